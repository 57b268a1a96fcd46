// Command vcsim serves govmomi's vCenter simulator on 127.0.0.1 for Standby's vSphere tests.
//
// Every datacenter DC<n> has a cluster DC<n>_C0 of three hosts, two datastores
// (LocalDS_0, LocalDS_1) and a distributed switch with port groups DC<n>_DVPG0
// and DC<n>_DVPG1; tests create their own VMs and port groups in datacenters
// nobody else uses. The first line on stdout is JSON: {"url": ..., "cafile": ...}.
// The simulator stops when stdin closes or on SIGTERM.
//
// POST /standby/fault?vm=<moid>&method=<PowerOnVM_Task|PowerOffVM_Task|CreateSnapshot_Task>&fault=<kind>&count=<n>
// makes the next n calls of that method on that VM fail with a real vSphere
// fault (NoPermission, TaskInProgress, InvalidState), as a busy or locked-down
// vCenter would answer; fault=Slow keeps a PowerOffVM_Task running for 1.5 s.
// snapshot=<moid>&method=RevertToSnapshot_Task instead of vm= fails reverts to that snapshot (as task errors).
//
// GET /standby/calls answers, as JSON, how many calls of each PropertyCollector method every collector has served
// (CreatePropertyCollector, CreateFilter, WaitForUpdatesEx, RetrieveProperties, RetrievePropertiesEx); a call
// about Task objects counts under "<method>@Task" as well: how a client waits for tasks, seen from the server.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type faultKey struct{ vm, method string }

var (
	faultsMu sync.Mutex
	faults   = map[faultKey][]string{}
)

// nextFault consumes the next fault queued for a VM's method: its kind, or "" when none is.
func nextFault(vm types.ManagedObjectReference, method string) string {
	faultsMu.Lock()
	defer faultsMu.Unlock()
	key := faultKey{vm.Value, method}
	pending := faults[key]
	if len(pending) == 0 {
		return ""
	}
	faults[key] = pending[1:]
	return pending[0]
}

// vimFault is the vSphere fault of a kind.
func vimFault(kind string, vm types.ManagedObjectReference) types.BaseMethodFault {
	switch kind {
	case "NoPermission":
		return &types.NoPermission{Object: vm, PrivilegeId: "VirtualMachine.Interact.PowerOn"}
	case "TaskInProgress":
		// Names the task the VM is busy with, as vCenter does; no caller reads it.
		return &types.TaskInProgress{Task: types.ManagedObjectReference{Type: "Task", Value: "task-busy"}}
	default:
		return &types.InvalidState{}
	}
}

// FaultyVM answers with injected faults before behaving as the simulator's VirtualMachine.
// It embeds the VM by value: vcsim's property collector digs the mo type out through first fields, not pointers.
type FaultyVM struct {
	simulator.VirtualMachine
}

// PowerOnVMTask fails (as a call fault) while a fault is pending.
func (vm *FaultyVM) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	if kind := nextFault(vm.Self, "PowerOnVM_Task"); kind != "" {
		return &methods.PowerOnVM_TaskBody{Fault_: simulator.Fault("injected", vimFault(kind, vm.Self))}
	}
	return vm.VirtualMachine.PowerOnVMTask(ctx, req)
}

// PowerOffVMTask fails (as a task error) while a fault is pending; "Slow" keeps the task running for 1.5 s.
func (vm *FaultyVM) PowerOffVMTask(ctx *simulator.Context, req *types.PowerOffVM_Task) soap.HasFault {
	kind := nextFault(vm.Self, "PowerOffVM_Task")
	if kind == "" {
		return vm.VirtualMachine.PowerOffVMTask(ctx, req)
	}
	task := simulator.CreateTask(vm.Self, "powerOff", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if kind != "Slow" {
			return nil, vimFault(kind, vm.Self)
		}
		time.Sleep(1500 * time.Millisecond)
		simulator.Map.WithLock(vm, func() { vm.VirtualMachine.PowerOffVMTask(ctx, req) })
		return nil, nil
	})
	if kind == "Slow" {
		simulator.Map.Update(task, []types.PropertyChange{{Name: "info.state", Val: types.TaskInfoStateRunning}})
		go task.Run()
		return &methods.PowerOffVM_TaskBody{Res: &types.PowerOffVM_TaskResponse{Returnval: task.Self}}
	}
	return &methods.PowerOffVM_TaskBody{Res: &types.PowerOffVM_TaskResponse{Returnval: task.Run()}}
}

// CreateSnapshotTask fails (as a task error) while a fault is pending.
func (vm *FaultyVM) CreateSnapshotTask(req *types.CreateSnapshot_Task) soap.HasFault {
	if kind := nextFault(vm.Self, "CreateSnapshot_Task"); kind != "" {
		task := simulator.CreateTask(vm.Self, "createSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, vimFault(kind, vm.Self)
		})
		return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: task.Run()}}
	}
	return vm.VirtualMachine.CreateSnapshotTask(req)
}

// FaultySnapshot answers with injected faults before behaving as the simulator's snapshot (embedded by value, as
// FaultyVM embeds its VM); the VM it belongs to stays as it is, which the simulator's snapshot code requires.
type FaultySnapshot struct {
	simulator.VirtualMachineSnapshot
}

// RevertToSnapshotTask fails (as a task error) while a fault is pending.
func (s *FaultySnapshot) RevertToSnapshotTask(req *types.RevertToSnapshot_Task) soap.HasFault {
	if kind := nextFault(s.Self, "RevertToSnapshot_Task"); kind != "" {
		task := simulator.CreateTask(s.Self, "revertToSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, vimFault(kind, s.Vm)
		})
		return &methods.RevertToSnapshot_TaskBody{Res: &types.RevertToSnapshot_TaskResponse{Returnval: task.Run()}}
	}
	return s.VirtualMachineSnapshot.RevertToSnapshotTask(req)
}

var (
	callsMu sync.Mutex
	calls   = map[string]int{}
)

// counted counts a call of a method, and under "<method>@Task" when one of the objects it names is a Task.
func counted(method string, specs ...types.PropertyFilterSpec) {
	callsMu.Lock()
	defer callsMu.Unlock()
	calls[method]++
	for _, spec := range specs {
		for _, object := range spec.ObjectSet {
			if object.Obj.Type == "Task" {
				calls[method+"@Task"]++
				return
			}
		}
	}
}

// CountingCollector is the simulator's PropertyCollector, counting its calls; the collectors it creates count too.
// vcsim makes each session's view of the root collector with the root's own type, so it counts as well.
type CountingCollector struct {
	simulator.PropertyCollector
}

// CreatePropertyCollector makes a counting collector of the session's own.
func (pc *CountingCollector) CreatePropertyCollector(ctx *simulator.Context, req *types.CreatePropertyCollector) soap.HasFault {
	counted("CreatePropertyCollector")
	made := &CountingCollector{}
	made.Self.Type = "PropertyCollector" // else the reference would name the Go type
	ref := ctx.Session.Put(made).Reference()
	return &methods.CreatePropertyCollectorBody{Res: &types.CreatePropertyCollectorResponse{Returnval: ref}}
}

// CreateFilter counts, then creates the filter.
func (pc *CountingCollector) CreateFilter(ctx *simulator.Context, req *types.CreateFilter) soap.HasFault {
	counted("CreateFilter", req.Spec)
	return pc.PropertyCollector.CreateFilter(ctx, req)
}

// WaitForUpdatesEx counts, then waits.
func (pc *CountingCollector) WaitForUpdatesEx(ctx *simulator.Context, req *types.WaitForUpdatesEx) soap.HasFault {
	counted("WaitForUpdatesEx")
	return pc.PropertyCollector.WaitForUpdatesEx(ctx, req)
}

// RetrieveProperties counts, then reads.
func (pc *CountingCollector) RetrieveProperties(ctx *simulator.Context, req *types.RetrieveProperties) soap.HasFault {
	counted("RetrieveProperties", req.SpecSet...)
	return pc.PropertyCollector.RetrieveProperties(ctx, req)
}

// RetrievePropertiesEx counts, then reads.
func (pc *CountingCollector) RetrievePropertiesEx(ctx *simulator.Context, req *types.RetrievePropertiesEx) soap.HasFault {
	counted("RetrievePropertiesEx", req.SpecSet...)
	return pc.PropertyCollector.RetrievePropertiesEx(ctx, req)
}

// servedCalls answers the counts.
func servedCalls(w http.ResponseWriter, r *http.Request) {
	callsMu.Lock()
	defer callsMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(calls)
}

// injectFault queues faults for a VM; the VM is wrapped in FaultyVM while it has any.
func injectFault(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: q.Get("vm")}
	if q.Has("snapshot") {
		ref = types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: q.Get("snapshot")}
	}
	count, err := strconv.Atoi(q.Get("count"))
	if err != nil || count < 1 {
		count = 1
	}
	var wrapped mo.Reference
	switch obj := simulator.Map.Get(ref).(type) {
	case *simulator.VirtualMachine:
		wrapped = &FaultyVM{*obj}
	case *simulator.VirtualMachineSnapshot:
		wrapped = &FaultySnapshot{*obj}
	case *FaultyVM, *FaultySnapshot:
		wrapped = obj
	default:
		http.Error(w, "no such VM or snapshot", http.StatusNotFound)
		return
	}
	faultsMu.Lock()
	key := faultKey{ref.Value, q.Get("method")}
	for i := 0; i < count; i++ {
		faults[key] = append(faults[key], q.Get("fault"))
	}
	faultsMu.Unlock()
	simulator.Map.Put(wrapped)
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	datacenters := flag.Int("dc", 8, "datacenters to create")
	username := flag.String("username", "", "the one valid user (empty: any non-empty user and password)")
	password := flag.String("password", "", "that user's password")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate")
	idle := flag.Duration("idle", 0, "expire sessions idle this long (0: never)")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = *datacenters
	model.Host = 0
	model.Machine = 0
	model.Datastore = 2
	model.Portgroup = 2
	model.Autostart = false
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()
	simulator.SessionIdleTimeout = *idle

	model.Service.Listen = &url.URL{Host: *listen}
	if *username != "" {
		model.Service.Listen.User = url.UserPassword(*username, *password)
	}
	if *useTLS {
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
	}
	model.Service.HandleFunc("/standby/fault", injectFault)
	model.Service.HandleFunc("/standby/calls", servedCalls)
	root := &CountingCollector{}
	root.Self = types.ManagedObjectReference{Type: "PropertyCollector", Value: "propertyCollector"}
	simulator.Map.Put(root)
	server := model.Service.NewServer()
	defer server.Close()

	cafile := ""
	if *useTLS {
		var err error
		if cafile, err = server.CertificateFile(); err != nil {
			log.Fatal(err)
		}
	}
	address := *server.URL
	address.User = nil
	line, _ := json.Marshal(map[string]string{"url": address.String(), "cafile": cafile})
	fmt.Println(string(line))
	os.Stdout.Sync()

	waitForEnd()
}

// selfSigned makes a 2048-bit certificate for 127.0.0.1: govmomi's built-in one has a 1024-bit key, which
// OpenSSL's default security level refuses even when the client trusts it.
func selfSigned() tls.Certificate {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	template := x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vcsim"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// waitForEnd returns when stdin closes (the test process went away) or on SIGTERM/SIGINT.
func waitForEnd() {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = ioutil.ReadAll(os.Stdin)
		done <- struct{}{}
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		done <- struct{}{}
	}()
	<-done
	// Let in-flight responses finish before the deferred Close.
	time.Sleep(10 * time.Millisecond)
}
