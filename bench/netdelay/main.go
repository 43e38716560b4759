// Command netdelay puts a database at a distance for `refundd bench`: it
// forwards TCP connections from -listen to -to and holds every chunk of
// data for -delay in each direction, so each round trip costs about twice
// -delay more, as with a PostgreSQL in another rack or zone. Localhost
// hides the round trips a refund still makes; this shows what they cost.
//
//	go run ./bench/netdelay -delay 250us &
//	refundd bench --clients 1 --db 'postgres://postgres@127.0.0.1:6432/test?sslmode=disable'
//
// Chunks keep their order, and a chunk read while another waits is held
// from when it was read, as on a wire. time.Sleep rounds up to a
// millisecond on some virtual machines, so the last stretch of each wait
// spins: run it with one client, or it takes the cores the bench needs.
package main

import (
	"flag"
	"log"
	"net"
	"runtime"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6432", "address to accept connections on")
	to := flag.String("to", "127.0.0.1:5432", "address to forward them to")
	delay := flag.Duration("delay", 250*time.Microsecond, "how long each direction holds the data")
	flag.Parse()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", *to)
			if err != nil {
				log.Print(err)
				return
			}
			defer s.Close()
			go forward(s, c, *delay)
			forward(c, s, *delay)
		}()
	}
}

type chunk struct {
	due  time.Time
	data []byte
}

// forward copies src to dst, each chunk delivered delay after it was read.
func forward(dst, src net.Conn, delay time.Duration) {
	held := make(chan chunk, 4096)
	go func() {
		defer close(held)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				held <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range held {
		if wait := time.Until(c.due); wait > 1500*time.Microsecond {
			time.Sleep(wait - 1500*time.Microsecond)
		}
		for time.Now().Before(c.due) {
			runtime.Gosched()
		}
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	for range held { // after a failed write: let the reader run to its end
	}
}
