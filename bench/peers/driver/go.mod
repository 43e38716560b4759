module github.com/refundd/refundd/bench/peers/driver

go 1.25
