// Package sim is refundd's deterministic fault simulator, in the spirit of
// FoundationDB's simulation testing and TigerBeetle's VOPR. Its tests run
// the real refund.Service on a real store (SQLite; PostgreSQL too when
// REFUNDD_TEST_POSTGRES is set) against a simulated processor and a
// simulated clock, driven by a seeded random schedule of faults: processor
// timeouts, answers dropped after execution, late executions, 5xx answers,
// declines, client retries, concurrent refunds on one order, node crashes,
// store commits of unknown outcome and clock skew between nodes. The
// processor is, by seed, idempotent on the refund's key or not, and can
// look a refund up by key or not, so that the core's rules for each of
// these capabilities are exercised and a second execution can show; and
// it sends notifications of its decisions or not, which arrive early,
// late, twice or never. After each
// run it checks that no refund was paid twice or lost, and that every
// difference between the processor and the books is listed, never silent.
//
// Everything runs on one goroutine at a time, with time and ids injected,
// so a seed reproduces its run exactly:
//
//	go test ./sim -run TestSimulation -v              # the default seeds
//	SIM_SEEDS=5000 go test ./sim -run TestSimulation  # more
//	SIM_SEED=1234 go test ./sim -run TestSimulation -v # one seed, with its trace
package sim
