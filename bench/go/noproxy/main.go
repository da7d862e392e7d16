// Command noproxy is the limit of Centrifugo's HTTP proxy path: a proxy that answers
// connect and RPC calls at once, with no application behind it.
//
//	noproxy -addr 127.0.0.1:9000
//
// POST /centrifugo/connect answers {"result":{"user":...}} (the user from the connect
// data, as bench/proxy_app.py does); POST /centrifugo/rpc echoes the call's data.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

type call struct {
	User string          `json:"user"`
	Data json.RawMessage `json:"data"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /centrifugo/connect", func(w http.ResponseWriter, r *http.Request) {
		var c call
		_ = json.NewDecoder(r.Body).Decode(&c)
		var data struct {
			User string `json:"user"`
		}
		_ = json.Unmarshal(c.Data, &data)
		if data.User == "" {
			data.User = "bench"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"user": data.User}})
	})
	mux.HandleFunc("POST /centrifugo/rpc", func(w http.ResponseWriter, r *http.Request) {
		var c call
		_ = json.NewDecoder(r.Body).Decode(&c)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"result": map[string]any{"data": map[string]any{"echo": c.Data, "user": c.User}},
		})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	log.Fatal(http.ListenAndServe(*addr, mux))
}
