package testport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddrIsFreeAndBelowTheEphemeralRange(t *testing.T) {
	top := ephemeralStart()
	for range 20 {
		addr := Addr(t)
		_, p, _ := net.SplitHostPort(addr)
		for _, port := range []int{atoi(p), Port(t)} {
			if top-lowest >= 1000 && (port < lowest || port >= top) {
				t.Fatalf("port %d is outside [%d, %d), below the ephemeral range", port, lowest, top)
			}
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		l.Close()
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
