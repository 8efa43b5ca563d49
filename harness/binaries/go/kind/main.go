// Command kind is kmslab's build of upstream kind (sigs.k8s.io/kind), used to check generated cluster configs with
// kind's own loader where no container engine runs. Users with Docker can use any kind on their PATH instead.
package main

import "sigs.k8s.io/kind/cmd/kind/app"

func main() {
	app.Main()
}
