// Package testport gives tests a loopback port for a process they start,
// which binds it later.
//
// The usual way, listening on port 0 and closing, returns a port from the
// kernel's ephemeral range, which is also where every outgoing connection
// takes its local port: between the pick and the bind, a connection of any
// process on the machine may take it, and the process started then fails
// to listen. A port below that range is never handed out that way.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// lowest is the first port Addr picks from, above the ports of services.
const lowest = 10000

// Addr returns 127.0.0.1:PORT with Port's port.
func Addr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Port(t))
}

// Port returns a loopback port free now and below the ephemeral range;
// where that range leaves too little room below it, a port the kernel
// picks.
func Port(t testing.TB) int {
	t.Helper()
	if top := ephemeralStart(); top-lowest >= 1000 {
		for range 100 {
			port := lowest + rand.IntN(top-lowest)
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
				return port
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ephemeralStart is the first port of the kernel's ephemeral range
// (Linux's default, 32768, where it cannot be read).
func ephemeralStart() int {
	start := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &start)
	}
	return start
}
