// A vCenter simulator for lkrun's tests: govmomi's VPX model served on a
// loopback address. Prints one JSON line (SDK URL, certificate file,
// datastore directories) and runs until SIGINT or SIGTERM, then removes the
// model's temporary directories.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	useTLS := flag.Bool("tls", false, "serve https with a self-signed certificate")
	user := flag.String("user", "user", "the only user name Login accepts")
	password := flag.String("password", "pass", "the only password Login accepts")
	delay := flag.String("method-delay", "", "METHOD=MS: every call of METHOD waits MS milliseconds first")
	flag.Parse()

	model := simulator.VPX()
	if name, ms, ok := strings.Cut(*delay, "="); ok {
		n, err := strconv.Atoi(ms)
		if err != nil {
			panic(err)
		}
		model.DelayConfig.MethodDelay = map[string]int{name: n}
	}
	if err := model.Create(); err != nil {
		panic(err)
	}
	defer model.Remove()
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *password)}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}
	server := model.Service.NewServer()
	defer server.Close()

	out := map[string]interface{}{"url": server.URL.String()}
	if *useTLS {
		cert, err := server.CertificateFile() // removed again by server.Close
		if err != nil {
			panic(err)
		}
		out["cert"] = cert
	}
	datastores := map[string]string{}
	for _, entity := range simulator.Map.All("Datastore") {
		ds := entity.(*simulator.Datastore)
		datastores[ds.Name] = ds.Info.GetDatastoreInfo().Url
	}
	out["datastores"] = datastores
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}
