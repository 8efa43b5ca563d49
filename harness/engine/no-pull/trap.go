package main

import (
	"bufio"
	"net"
	"strings"
	"time"
)

// serveTrap answers on the address dockerd is given as its HTTP(S) proxy. Nothing dockerd is allowed to do needs
// a proxy, so every connection here is something that got past the authorization checks and tried to leave the
// machine (a pull of a missing FROM image in a local build, say): it is refused and logged by host name, which is
// the evidence pull-audit.ts reads. The request leaves dockerd no further than this loopback port.
func serveTrap(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go trapOne(c)
	}
}

func trapOne(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReaderSize(c, 8192).ReadString('\n')
	method, target, _ := strings.Cut(strings.TrimSpace(line), " ")
	target, _, _ = strings.Cut(target, " ")
	logf("warning", "outbound attempt through the proxy: %s %s", method, redact(target))
	_, _ = c.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" +
		"kmslab: this engine never contacts another host\n"))
}
