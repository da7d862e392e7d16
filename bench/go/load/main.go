// Command load is the benchmark's compiled load generator, on the official Go client
// SDK (centrifuge-go). Each mode prints one JSON object of figures on stdout.
//
//	load rpc     -url WS -token JWT -clients 64 -duration 3s [-rate 2000] [-method echo]
//	load connect -url WS [-token JWT | -data '{"user":"u"}'] -n 3000 -concurrency 200
//	load fanout  -url WS -token JWT -channel C -subs 1000 -messages 20 [-api URL -key K]
//	load publish -api URL -key K -channel C -n 20000 -batch 500 -inflight 4 [-keys]
//	load reconnect -url WS [-token JWT] -n 5000 -concurrency 200 -timeout 60s
//
// Latencies are measured from when a call was due (with -rate) or sent, so a slow
// server cannot hide behind a waiting load generator. "cpu" is the cores this
// process used over the run (1.0 = one core busy), to show it was not the limit.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge-go"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load rpc|connect|fanout|publish|reconnect [flags]")
		os.Exit(2)
	}
	modes := map[string]func([]string) (map[string]any, error){
		"rpc": rpcMode, "connect": connectMode, "fanout": fanoutMode, "publish": publishMode,
		"reconnect": reconnectMode,
	}
	run, ok := modes[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	out, err := run(os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	out["cpu"] = (cpuSeconds() - cpu0) / time.Since(start).Seconds()
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// quantile of sorted latencies, in milliseconds.
func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * q)
	return float64(sorted[i].Microseconds()) / 1000
}

type client struct {
	c         *centrifuge.Client
	connected chan struct{}
	errors    *atomic.Int64
	up        atomic.Bool  // connected now (reconnect mode)
	back      atomic.Int64 // unix nanoseconds of its last connect (reconnect mode)
}

// watch, when set before the clients dial, follows each client's state (reconnect mode).
var watch *watcher

// dial starts connecting one client; <-connected when it is connected.
func dial(url, token string, data []byte, errs *atomic.Int64) *client {
	cl := &client{
		c: centrifuge.NewJsonClient(url, centrifuge.Config{
			Token: token, Data: data, Name: "bench", ReadTimeout: 10 * time.Second,
			HandshakeTimeout: 10 * time.Second, MaxServerPingDelay: 60 * time.Second,
		}),
		connected: make(chan struct{}),
		errors:    errs,
	}
	var once sync.Once
	w := watch
	cl.c.OnConnected(func(centrifuge.ConnectedEvent) {
		once.Do(func() { close(cl.connected) })
		if w != nil && cl.up.CompareAndSwap(false, true) {
			cl.back.Store(time.Now().UnixNano())
			w.up.Add(1)
		}
	})
	if w != nil {
		down := func() {
			if cl.up.CompareAndSwap(true, false) {
				w.up.Add(-1)
				w.firstDrop.CompareAndSwap(0, time.Now().UnixNano())
			}
		}
		cl.c.OnConnecting(func(centrifuge.ConnectingEvent) { down() })
		cl.c.OnDisconnected(func(centrifuge.DisconnectedEvent) { down() })
	}
	cl.c.OnError(func(e centrifuge.ErrorEvent) {
		errs.Add(1)
		if w != nil {
			w.note(e.Error)
		}
	})
	_ = cl.c.Connect()
	return cl
}

func (cl *client) wait(timeout time.Duration) error {
	select {
	case <-cl.connected:
		return nil
	case <-time.After(timeout):
		return errors.New("not connected in time")
	}
}

// connectAll connects n clients, at most concurrency at a time, and returns them
// with each one's connect latency.
func connectAll(url, token string, data func(int) []byte, n, concurrency int, errs *atomic.Int64) ([]*client, []time.Duration, int) {
	clients := make([]*client, n)
	lat := make([]time.Duration, n)
	var failed atomic.Int64
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t := time.Now()
			clients[i] = dial(url, token, data(i), errs)
			if clients[i].wait(20*time.Second) != nil {
				failed.Add(1)
				lat[i] = -1
				return
			}
			lat[i] = time.Since(t)
		}()
	}
	wg.Wait()
	return clients, lat, int(failed.Load())
}

func closeAll(clients []*client) {
	var wg sync.WaitGroup
	for _, cl := range clients {
		if cl != nil {
			wg.Add(1)
			go func() { defer wg.Done(); cl.c.Close() }()
		}
	}
	wg.Wait()
}

func userData(i int) []byte { return []byte(fmt.Sprintf(`{"user":"load-%d"}`, i)) }

func rpcMode(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("rpc", flag.ExitOnError)
	url := fs.String("url", "", "Centrifugo WebSocket endpoint")
	token := fs.String("token", "", "connection JWT")
	n := fs.Int("clients", 64, "connected clients, each with one call in flight")
	duration := fs.Duration("duration", 3*time.Second, "how long to call")
	rate := fs.Float64("rate", 0, "calls/s over all clients (0: as fast as answered)")
	method := fs.String("method", "echo", "the RPC method called")
	_ = fs.Parse(args)
	var errs atomic.Int64
	clients, _, failed := connectAll(*url, *token, userData, *n, 100, &errs)
	defer closeAll(clients)
	if failed > 0 {
		return nil, fmt.Errorf("%d of %d clients did not connect", failed, *n)
	}
	// With -rate, a pacer hands out the times calls are due; a client late to take
	// one still counts the wait in the call's latency.
	due := make(chan time.Time, 1<<16)
	start := time.Now()
	end := start.Add(*duration)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	if *rate > 0 {
		go func() {
			interval := time.Duration(float64(time.Second) / *rate)
			next := start
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for now := range tick.C {
				for ; !next.After(now) && next.Before(end); next = next.Add(interval) {
					select {
					case due <- next:
					default:
					}
				}
				if !now.Before(end) {
					close(due)
					return
				}
			}
		}()
	}
	var callErrors atomic.Int64
	all := make([][]time.Duration, *n)
	var wg sync.WaitGroup
	payload := []byte(`{"n":1}`)
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for {
				var t time.Time
				if *rate > 0 {
					var ok bool
					select {
					case t, ok = <-due:
						if !ok {
							all[i] = lat
							return
						}
					case <-ctx.Done():
						all[i] = lat
						return
					}
				} else {
					t = time.Now()
					if !t.Before(end) {
						all[i] = lat
						return
					}
				}
				callCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cl.c.RPC(callCtx, *method, payload)
				stop()
				if err != nil {
					callErrors.Add(1)
					continue
				}
				lat = append(lat, time.Since(t))
			}
		}()
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	lat := slices.Concat(all...)
	slices.Sort(lat)
	return map[string]any{
		"calls": len(lat), "errors": callErrors.Load() + errs.Load(), "seconds": seconds,
		"rate": float64(len(lat)) / seconds, "p50_ms": quantile(lat, 0.5), "p99_ms": quantile(lat, 0.99),
	}, nil
}

func connectMode(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("connect", flag.ExitOnError)
	url := fs.String("url", "", "Centrifugo WebSocket endpoint")
	token := fs.String("token", "", "connection JWT (empty: the connect proxy decides, with -data)")
	n := fs.Int("n", 3000, "connections to open (kept open until all are connected)")
	concurrency := fs.Int("concurrency", 200, "connects in flight at once")
	_ = fs.Parse(args)
	var errs atomic.Int64
	data := userData
	if *token != "" {
		data = func(int) []byte { return nil }
	}
	start := time.Now()
	clients, lat, failed := connectAll(*url, *token, data, *n, *concurrency, &errs)
	seconds := time.Since(start).Seconds()
	closeAll(clients)
	lat = slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	slices.Sort(lat)
	return map[string]any{
		"connected": len(lat), "failed": failed, "errors": errs.Load(), "seconds": seconds,
		"rate": float64(len(lat)) / seconds, "p50_ms": quantile(lat, 0.5), "p99_ms": quantile(lat, 0.99),
	}, nil
}

// fanoutMode subscribes -subs clients to one channel, says "ready" on stderr, then
// measures each publication's delivery latency from the time stamp it carries
// ({"t": unix nanoseconds}). With -api it publishes the messages itself through
// Centrifugo's server API (Centrifugo alone); without, someone else publishes.
func fanoutMode(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("fanout", flag.ExitOnError)
	url := fs.String("url", "", "Centrifugo WebSocket endpoint")
	token := fs.String("token", "", "connection JWT")
	channel := fs.String("channel", "bench:fanout", "channel")
	subs := fs.Int("subs", 1000, "subscribers")
	messages := fs.Int("messages", 20, "publications expected by every subscriber")
	api := fs.String("api", "", "publish through this server API URL (http://host:port/api)")
	key := fs.String("key", "", "server API key")
	interval := fs.Duration("interval", 50*time.Millisecond, "between publications (with -api)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up waiting after")
	_ = fs.Parse(args)
	var errs atomic.Int64
	clients, _, failed := connectAll(*url, *token, userData, *subs, 100, &errs)
	defer closeAll(clients)
	if failed > 0 {
		return nil, fmt.Errorf("%d of %d subscribers did not connect", failed, *subs)
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, *subs**messages)
	var got atomic.Int64
	done := make(chan struct{})
	want := int64(*subs * *messages)
	subscribed := make(chan struct{}, *subs)
	for _, cl := range clients {
		sub, err := cl.c.NewSubscription(*channel)
		if err != nil {
			return nil, err
		}
		sub.OnSubscribed(func(centrifuge.SubscribedEvent) { subscribed <- struct{}{} })
		sub.OnPublication(func(e centrifuge.PublicationEvent) {
			now := time.Now()
			var m struct {
				T int64 `json:"t"`
			}
			if json.Unmarshal(e.Data, &m) == nil && m.T > 0 {
				mu.Lock()
				lat = append(lat, now.Sub(time.Unix(0, m.T)))
				mu.Unlock()
			}
			if got.Add(1) == want {
				close(done)
			}
		})
		if err := sub.Subscribe(); err != nil {
			return nil, err
		}
	}
	for range *subs {
		select {
		case <-subscribed:
		case <-time.After(*timeout):
			return nil, errors.New("subscribers did not subscribe in time")
		}
	}
	fmt.Fprintln(os.Stderr, "ready")
	if *api != "" {
		// The connection to the API is made before the clock, as the hub's publisher's is.
		_ = post(*api+"/publish", *key, fmt.Sprintf(`{"channel":%q,"data":{}}`, *channel+"-warm-up"))
		go func() {
			for range *messages {
				body := fmt.Sprintf(`{"channel":%q,"data":{"t":%d}}`, *channel, time.Now().UnixNano())
				if err := post(*api+"/publish", *key, body); err != nil {
					errs.Add(1)
				}
				time.Sleep(*interval)
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(*timeout):
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	return map[string]any{
		"subscribers": *subs, "delivered": got.Load(), "expected": want, "errors": errs.Load(),
		"p50_ms": quantile(lat, 0.5), "p99_ms": quantile(lat, 0.99), "max_ms": quantile(lat, 1),
	}, nil
}

var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

func post(url, key, body string) error {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(reply, []byte(`"error"`)) {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, reply)
	}
	return nil
}

// publishMode sends -n publications to one channel through Centrifugo's batch API,
// -batch commands per request, -inflight requests at once: the compiled limit the
// hub's publisher is compared with.
func publishMode(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("publish", flag.ExitOnError)
	api := fs.String("api", "", "server API URL (http://host:port/api)")
	key := fs.String("key", "", "server API key")
	channel := fs.String("channel", "bench:publish", "channel")
	n := fs.Int("n", 20000, "publications")
	batch := fs.Int("batch", 500, "commands per batch request")
	inflight := fs.Int("inflight", 4, "batch requests in flight")
	payload := fs.String("payload", `{"kind":"bench","text":"`+strings.Repeat("x", 64)+`"}`, "JSON data")
	keys := fs.Bool("keys", false, "give every publication an idempotency key (as the hub's publisher does)")
	_ = fs.Parse(args)
	// Each command is encoded on its own, as a publisher fed by application code must.
	type publish struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
		Key     string          `json:"idempotency_key,omitempty"`
	}
	prefix := fmt.Sprintf("%x-", time.Now().UnixNano())
	type command struct {
		Publish publish `json:"publish"`
	}
	bodies := make(chan string, *inflight)
	go func() {
		for sent := 0; sent < *n; sent += *batch {
			k := min(*batch, *n-sent)
			var b strings.Builder
			b.WriteString(`{"commands":[`)
			for j := range k {
				if j > 0 {
					b.WriteByte(',')
				}
				key := ""
				if *keys {
					key = prefix + strconv.Itoa(sent+j)
				}
				encoded, _ := json.Marshal(command{publish{*channel, json.RawMessage(*payload), key}})
				b.Write(encoded)
			}
			b.WriteString(`]}`)
			bodies <- b.String()
		}
		close(bodies)
	}()
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range bodies {
				if err := post(*api+"/batch", *key, body); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	return map[string]any{"published": *n, "failed_batches": failed.Load(), "seconds": seconds,
		"rate": float64(*n) / seconds, "batch": *batch, "inflight": *inflight}, nil
}

type watcher struct {
	up        atomic.Int64 // clients connected now
	firstDrop atomic.Int64 // unix nanoseconds of the first client to lose its connection
	mu        sync.Mutex
	kinds     map[string]int // errors by kind (the message without addresses)
}

var digits = strings.NewReplacer("0", "", "1", "", "2", "", "3", "", "4", "", "5", "", "6", "", "7", "", "8", "", "9", "")

func (w *watcher) note(err error) {
	kind := digits.Replace(err.Error())
	if len(kind) > 80 {
		kind = kind[:80]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.kinds == nil {
		w.kinds = map[string]int{}
	}
	w.kinds[kind]++
}

// reconnectMode connects -n clients (through the connect proxy unless -token), says
// "ready" on stderr, then waits for them to lose their connection (the caller restarts
// Centrifugo) and measures how long until every one is connected again, with the SDK's
// own reconnect (its default backoff, from 200 ms with jitter). Times are from the
// first client's loss of connection; "back_s" lists each client's, sorted.
func reconnectMode(args []string) (map[string]any, error) {
	fs := flag.NewFlagSet("reconnect", flag.ExitOnError)
	url := fs.String("url", "", "Centrifugo WebSocket endpoint")
	token := fs.String("token", "", "connection JWT (empty: the connect proxy decides, with -data)")
	n := fs.Int("n", 5000, "clients")
	concurrency := fs.Int("concurrency", 200, "first connects in flight at once")
	timeout := fs.Duration("timeout", 60*time.Second, "give up waiting for the drop, then for all to be back, after")
	_ = fs.Parse(args)
	watch = &watcher{}
	var errs atomic.Int64
	data := userData
	if *token != "" {
		data = func(int) []byte { return nil }
	}
	start := time.Now()
	clients, _, failed := connectAll(*url, *token, data, *n, *concurrency, &errs)
	defer closeAll(clients)
	if failed > 0 {
		return nil, fmt.Errorf("%d of %d clients did not connect", failed, *n)
	}
	firstConnect := time.Since(start).Seconds()
	errorsBefore := errs.Load()
	watch.mu.Lock()
	watch.kinds = nil
	watch.mu.Unlock()
	fmt.Fprintln(os.Stderr, "ready")
	deadline := time.Now().Add(*timeout)
	for watch.firstDrop.Load() == 0 {
		if time.Now().After(deadline) {
			return nil, errors.New("no client lost its connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t0 := watch.firstDrop.Load()
	// Wait until every client has been down and is back.
	fewest := int64(*n)
	deadline = time.Now().Add(*timeout)
	for {
		up := watch.up.Load()
		fewest = min(fewest, up)
		if up == int64(*n) {
			back := 0
			for _, cl := range clients {
				if cl.back.Load() >= t0 {
					back++
				}
			}
			if back == *n {
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	var times []time.Duration
	notBack := 0
	for _, cl := range clients {
		if b := cl.back.Load(); cl.up.Load() && b >= t0 {
			times = append(times, time.Duration(b-t0))
		} else {
			notBack++
		}
	}
	slices.Sort(times)
	all := 0.0
	if notBack == 0 && len(times) > 0 {
		all = times[len(times)-1].Seconds()
	}
	// Every client's time back, so that the outputs of several generators (one per
	// node) combine into exact quantiles; microseconds are enough.
	backS := make([]float64, len(times))
	for i, t := range times {
		backS[i] = float64(t.Microseconds()) / 1e6
	}
	return map[string]any{
		"clients": *n, "first_connect_s": firstConnect, "fewest_connected": fewest,
		"reconnected": len(times), "not_reconnected": notBack, "errors": errs.Load() - errorsBefore,
		"all_back_s": all, "p50_s": quantile(times, 0.5) / 1000, "p99_s": quantile(times, 0.99) / 1000,
		"first_drop_unix": float64(t0) / 1e9, "error_kinds": watch.kinds, "back_s": backS,
	}, nil
}
