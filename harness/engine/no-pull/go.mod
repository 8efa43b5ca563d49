module kmslab.local/no-pull

go 1.26
