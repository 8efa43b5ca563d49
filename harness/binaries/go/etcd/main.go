// Command etcd is kmslab's build of the upstream etcd server: a wrapper module that pins
// go.etcd.io/etcd/server/v3 and runs its main unchanged.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
