module kmslab.local/oci-runtime

go 1.26
