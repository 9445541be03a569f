---@meta lvs
-- LuaLS definitions for the `lvs` module of lvsh. Editors read this file for completion;
-- lvsh's help() reads the same comments, so each function is described once, here.

---@class lvs
lvs = {}

---The lvsh version string.
---@type string
lvs.version = ""

---@class ServiceSpec
---@field proto? "tcp"|"udp"|"sctp" protocol (default "tcp"); not for fwmark services
---@field addr? string "192.0.2.110:80" or "[2001:db8::1]:80"; or give fwmark
---@field fwmark? integer firewall mark (1..4294967295) instead of addr
---@field af? "inet"|"inet6" address family of a fwmark service (default "inet")
---@field scheduler? string rr, wrr, lc, wlc (default), lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh
---@field persistent? integer|boolean seconds (1..2678400), true for 360, false for off
---@field netmask? string|integer persistence granularity: "255.255.255.0" or a prefix length
---@field sched_flags? string[] sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3
---@field pe? string|false persistence engine ("sip")
---@field ops? boolean one-packet scheduling (UDP and fwmark services)
---@field servers? ServerSpec[] real servers to add with the service

---@class ServerSpec
---@field addr string "192.0.2.101:80"; without a port, the service's port
---@field method? "dr"|"tun"|"nat" forwarding (default "dr"); aliases route/gate/g, tunnel/ipip/i, masq/m
---@field weight? integer 0..2147483647 (default 1; 0 takes the server out of rotation)
---@field upper? integer connection limit (0: none)
---@field lower? integer connections below which an overloaded server is used again
---@field tun_type? "ipip"|"gue"|"gre" tunnel type, with method "tun"
---@field tun_port? integer UDP port of a gue tunnel
---@field tun_csum? "nocsum"|"csum"|"remcsum" tunnel checksum (gue; gre takes nocsum/csum)

---@class Service: ServiceSpec
---@field ip string the address without the port
---@field port integer
---@field stats table counters: conns, inpkts, outpkts, inbytes, outbytes (exact integers)
---@field rate table per second: cps, inpps, outpps, inbps, outbps
---@field servers Server[] the real servers (call svc:servers() to read them again)

---@class Server: ServerSpec
---@field ip string
---@field port integer
---@field active integer active connections
---@field inactive integer inactive connections
---@field persist integer persistence templates pointing at this server
---@field stats table counters: conns, inpkts, outpkts, inbytes, outbytes
---@field rate table per second: cps, inpps, outpps, inbps, outbps

---Adds a virtual service (and the real servers in spec.servers); returns it as the kernel has it.
---If a real server is refused, the service is removed again: nothing is half-applied.
---Example: lvs.add_service{addr="192.0.2.110:80", scheduler="rr"}
---@param spec ServiceSpec
---@return Service
function lvs.add_service(spec) end

---Changes the fields that spec names of an existing service; the others stay as they are.
---Example: lvs.edit_service{addr="192.0.2.110:80", scheduler="wrr", persistent=600}
---@param spec ServiceSpec key fields (proto/addr or fwmark/af) plus the fields to change
---@return Service
function lvs.edit_service(spec) end

---Deletes a service with all its real servers.
---@param spec ServiceSpec|Service key fields
---@return true
function lvs.del_service(spec) end

---Reads one service with its real servers, or nil if it does not exist.
---@param spec ServiceSpec|Service key fields
---@return Service|nil
function lvs.get_service(spec) end

---Reads every service with its real servers.
---@return Service[]
function lvs.services() end

---Deletes every service (ipvsadm -C).
---@return true
function lvs.clear() end

---Adds a real server to a service. rs may be just an address string.
---Example: lvs.add_server({addr="192.0.2.110:80"}, {addr="192.0.2.101", weight=2})
---@param svc ServiceSpec|Service
---@param rs ServerSpec|string
---@return Server
function lvs.add_server(svc, rs) end

---Changes the fields that rs names of an existing real server; the others stay as they are.
---@param svc ServiceSpec|Service
---@param rs ServerSpec
---@return Server
function lvs.edit_server(svc, rs) end

---Deletes a real server from a service.
---@param svc ServiceSpec|Service
---@param addr string|Server "192.0.2.101" (the service's port) or "192.0.2.101:8080"
---@return true
function lvs.del_server(svc, addr) end

---Zeroes the packet, byte and connection counters of one service, or of all.
---@param svc? ServiceSpec|Service
---@return true
function lvs.zero(svc) end

---An mh service's Maglev table as this director's kernel builds it from its list of real
---servers (the kernel's algorithm, in user space): a fingerprint to compare directors with,
---the slots per server in the kernel's list order, and whether that order is lvsh's
---(ascending; `readd` names what an apply of the service re-adds to get there). `exact` is
---false while a server has weight 0 (the kernel may still give it its old slots). Nil for a
---service that is not mh.
---@param svc ServiceSpec|Service
---@return {fingerprint: string?, canonical: boolean, exact: boolean, slots: integer, servers: {server: string, slots: integer}[], readd: string[]}?
function lvs.mh_table(svc) end

---The real server this director's mh table gives a new flow from `client` ("ip:port"; the
---port counts with the mh-port flag), or nil (no server holds the slot).
---@param svc ServiceSpec|Service
---@param client string
---@return string?
function lvs.mh_server(svc, client) end

---Announces VIPs through BIRD 2 while this director can serve them: every monitor given runs,
---has checked each server and meets its quorum (or has a server up). The VIPs are addresses
---on a TUN device (dev, default "lvsh-any") that exists only while lvsh holds it, so a killed
---lvsh withdraws at once; a loop stalled for `hang` seconds (default 3) lets it go too. With
---bird.include, lvsh writes the file BIRD includes (protocol direct <protocol>, filter
---<protocol>_export; protocol defaults to "lvsh_anycast") and runs `birdc -s socket configure`
---when it changes. grade = {below = 0.5, med = 100}: under that share of servers up the routes
---carry the MED. sloppy = true (default) turns on sloppy_tcp and sloppy_sctp. lvs.run() ends
---with a withdrawal and `linger` seconds (default 1) before the rest stops. Returns a handle:
---h:status() (announced, reason, med, since, device, stalls, changes), h:withdraw(), h:announce().
---@param spec {vips: string[], monitors?: userdata[], dev?: string, hang?: number, linger?: number, grade?: {below?: number, med?: integer}, bird?: {include: string, socket?: string, protocol?: string, birdc?: string}, sloppy?: boolean}
---@return userdata
function lvs.anycast(spec) end

---The kernel's IPVS version and connection table size.
---@return {version: string, conn_tab_size: integer}
function lvs.info() end

---The connection timeouts in seconds (ipvsadm -L --timeout).
---@return {tcp: integer, tcpfin: integer, udp: integer}
function lvs.timeouts() end

---Sets connection timeouts in seconds; a missing field (or 0) is left unchanged.
---Example: lvs.set_timeouts{tcp=900, udp=300}
---@param t {tcp?: integer, tcpfin?: integer, udp?: integer}
---@return true
function lvs.set_timeouts(t) end

---Starts the connection sync daemon (ipvsadm --start-daemon).
---Example: lvs.start_daemon{state="master", ifname="eth0", syncid=1}
---@param d {state: "master"|"backup", ifname?: string, syncid?: integer, maxlen?: integer, group?: string, port?: integer, ttl?: integer}
---@return true
function lvs.start_daemon(d) end

---Stops the master or backup sync daemon.
---@param state "master"|"backup"
---@return true
function lvs.stop_daemon(state) end

---The running sync daemons, master first.
---@return {state: string, ifname: string, syncid: integer, maxlen: integer, group: string, port: integer, ttl: integer}[]
function lvs.daemons() end

---Prints the table: boxed (the default), as `ipvsadm -L -n` prints it byte for byte
---(format="ipvsadm"), or as JSON (format="json"). Options: stats, rate, thresholds,
---persistent_conn, tun_info, exact (no K/M/G), sort (false: kernel order), names (resolve
---addresses and ports), service (one service only), print (false: return the text instead).
---Example: lvs.list{format="ipvsadm", stats=true}
---@param opts? table
---@return string|nil
function lvs.list(opts) end

---The rules as text, byte for byte what `ipvsadm -S -n` prints; with a path, written to that
---file atomically. {complete=true} also writes the thresholds (-x/-y) that ipvsadm -S drops;
---{names=true} writes host and service names.
---Example: lvs.save("/etc/lvs.rules") or print(lvs.save{complete=true})
---@param opts? string|{path?: string, complete?: boolean, names?: boolean}
---@return string|true
function lvs.save(opts) end

---Restores rules in the ipvsadm -R format (text, or a file path): comments, blank lines and
---long options are fine. Every line is checked first; a bad line changes nothing. If the kernel
---refuses a line, what was done is undone and the error names the line. Returns the number of
---commands carried out. Rules are bytes: a comment may be in any encoding, a rule that is not
---UTF-8 is refused by its line. A line may be up to 64 KiB long, the rules up to 256 MiB.
---@param text_or_path string
---@return integer
function lvs.restore(text_or_path) end

---The kernel's connection entries, optionally filtered: {proto=, state=, vip=, real=, client=}
---(addresses as "ip" or "ip:port"). Each entry: {proto, client, vip, real, state, expires,
---pe_name?, pe_data?}, expires in seconds.
---@param filter? table
---@return table[]
function lvs.connections(filter) end

---Prints the connection entries as a table, or as `ipvsadm -L -n -c` (format="ipvsadm").
---Takes the same filter fields as lvs.connections; print=false returns the text instead.
---@param filter? table
function lvs.list_connections(filter) end

---Runs an ipvsadm command line natively (no ipvsadm binary needed) and prints what ipvsadm
---prints; a refused command raises ipvsadm's message. {print=false} returns the output.
---A string is split as sh splits a line (quotes, backslashes, `#` comments; no expansion).
---Example: lvs.ipvsadm("-A -t 192.0.2.110:80 -s rr")
---@param cmdline string|string[]
---@param opts? {print?: boolean}
---@return string|nil
function lvs.ipvsadm(cmdline, opts) end

---Prints the connection timeouts as `ipvsadm -L --timeout` does.
function lvs.show_timeouts() end

---Prints the sync daemons as `ipvsadm -L --daemon` does.
function lvs.show_daemons() end

---The whole table (services with their real servers, and timeouts) as plain data that
---lvs.apply takes back: a list of service specs with `servers`, plus a `timeouts` field.
---@return table
function lvs.state() end

---Makes the kernel's table match `desired` with the fewest changes: edits stay edits (a
---scheduler, weight or threshold change never deletes and re-adds), and an unchanged table
---writes nothing. `desired` is a list of service specs with `servers` (and optional
---`timeouts`), rules text in the ipvsadm -R format, or a rules file. If the kernel refuses an
---operation, the ones before it are undone. Returns the plan: a list of operations, each
---{op=, service=, ..., ipvsadm="-a -t ..."}, made when first read (`#plan`, `plan[i]`,
---ipairs and pairs see them all; `next(plan)` does not).
---Options: dry_run (plan only), prune (default true: remove what desired does not name),
---drain (set removed real servers to weight 0 and delete them once drained, as lvs.drain does:
---wait = "active" (default), "all" or seconds; after drain_timeout seconds, default 300, at the
---latest). A draining apply waits without holding up monitors, timers or the REPL; SIGTERM
---ends the wait, leaving the servers in at weight 0. An empty string is refused. Rules text
---is read as lvs.restore reads it (bytes; lines up to 64 KiB, rules up to 256 MiB).
---Example: lvs.apply({{addr="192.0.2.110:80", scheduler="rr", servers={"192.0.2.101", "192.0.2.102"}}})
---@param desired table|string
---@param opts? {dry_run?: boolean, prune?: boolean, drain?: boolean, drain_timeout?: integer, wait?: "active"|"all"|number}
---@return table[]
function lvs.apply(desired, opts) end

---Two forms, told apart by the second argument.
---lvs.drain(service, server, opts): takes a real server out of rotation (weight 0) and deletes
---it once drained: wait = "active" (default: no active connections left), "all" (no
---connection entries at all: inactive ones such as TIME_WAIT too) or a number of seconds; a
---persistent service's persistence templates are waited for too. After `timeout` seconds
---(default 300) it is deleted with what it has. The calling code waits; everything else on
---the event loop goes on. The log says when the kernel's settings defeat a drain
---(expire_quiescent_template = 0 on a persistent service, conn_reuse_mode = 0). SIGTERM ends
---the wait with the server left in at weight 0. Returns true once the server is deleted.
---lvs.drain(server, {service=, reason=, ttl=}) (the second argument nil or an options table
---without addr): an override, as lvs.maintenance, that holds the server at weight 0 in every
---service it is in (or `service` only) and leaves it in the table; drain_started, then
---drain_finished once it has no active connections. Returns the override (see
---lvs.overrides); it ends with lvs.lift(id) or after ttl seconds.
---Example: lvs.drain({addr="192.0.2.110:80"}, "192.0.2.101", {wait="all", timeout=60})
---Example: lvs.drain("192.0.2.101", {reason="deploy", ttl=600})
---@param service ServiceSpec|string a service, or (override form) a server's address
---@param server? ServerSpec|string|{service?: ServiceSpec, reason?: string, ttl?: number}
---@param opts? {timeout?: integer, wait?: "active"|"all"|number}
---@return boolean|Override
function lvs.drain(service, server, opts) end

---Watches for drift: every `every` seconds (default 5) compares the kernel's table with
---`desired` (what lvs.apply takes: a list of service specs, rules text, a rules file, read
---once; or a function returning one, called each round) and acts on out-of-band changes
---(ipvsadm -d/-a/-e/-C by hand, another tool). What was done on purpose is no drift: a weight
---0 or a server deleted by its monitor, weights its exec checks set, a monitor's sorry server,
---servers being drained (and those drained away), weights held by overrides. action = "report" (default: log and emit
---drift_found once per distinct drift; drift_cleared when the kernel matches again),
---"revert" (put the desired table back with the fewest operations, as lvs.apply does, the
---deliberate changes kept; drift_reverted) or "adopt" (the kernel's table becomes the desired
---one, later changes are compared with it; drift_adopted; not with a desired function).
---When undoing a drift would take more than `max_changes` operations (default 20) nothing is
---touched and drift_alert is raised (logged as an error) once while it lasts. Events list
---changes as {service=, server=, field=, want=, have=} (a missing or extra object has no
---field: want/have "present"/"absent"). Returns a task: t:cancel() stops the watch.
---Example: lvs.watch{desired = "/etc/lvs.rules", every = 5, action = "revert", max_changes = 20}
---@param spec {desired: table|string|function, every?: number, action?: "report"|"revert"|"adopt", max_changes?: integer}
---@return userdata
function lvs.watch(spec) end

---@class Override
---@field id string "o1", "o2", ...: what lvs.lift takes (never given twice, across restarts too)
---@field kind "drain"|"maintenance"|"weight"
---@field server string the server as given: "192.0.2.101" (every port) or "192.0.2.101:80"
---@field services string[] the services it holds the server in ("TCP 192.0.2.110:80")
---@field weight integer the weight it holds the server at
---@field reason string why ("" when not given)
---@field by "script"|{uid: integer, pid: integer} who: the director's own code, or the attached client (SO_PEERCRED)
---@field set string when, RFC 3339 (set_epoch: seconds since the epoch)
---@field expires? string when it ends, RFC 3339 (expires_epoch, and expires_in seconds from now); nil: until lifted

---Puts a real server in maintenance: weight 0 in every service it is in now (or in `service`
---only; "192.0.2.101" names every port, "192.0.2.101:80" one). Its monitors keep checking it
---(lvs.show_monitors shows the override) but no verdict changes the table while it holds. It
---is kept in /var/lib/lvsh/NAME.overrides.json (LVSH_STATE_DIR) and put back when the director
---restarts. When it ends (lvs.lift, or ttl seconds) a monitored server gets what its checks
---say now (up: its weight; down: out), an unmonitored one the weight it had before. A server
---no service has, a bad ttl or service is an error, and nothing is changed. Returns the
---override. Events: override_set, override_lifted, override_expired.
---Example: lvs.maintenance("192.0.2.101", {reason="disk swap", ttl=3600})
---@param server string
---@param opts? {service?: ServiceSpec, reason?: string, ttl?: number}
---@return Override
function lvs.maintenance(server, opts) end

---Holds a real server at `weight` (0 to 2147483647) whatever its checks say, as
---lvs.maintenance holds it at 0 (same options, same end). Returns the override.
---Example: lvs.set_weight("192.0.2.101:80", 10, {reason="canary", ttl=300})
---@param server string
---@param weight integer
---@param opts? {service?: ServiceSpec, reason?: string, ttl?: number}
---@return Override
function lvs.set_weight(server, weight, opts) end

---The overrides in force (lvs.drain's override form, lvs.maintenance, lvs.set_weight),
---oldest first; where two hold the same server, the newer one's weight is the table's.
---@return Override[]
function lvs.overrides() end

---Ends override `id` ("o1", or 1) whoever set it; the event override_lifted says who lifted
---it. An unknown id is an error naming it. Returns the override that ended.
---@param id string|integer
---@return Override
function lvs.lift(id) end

---Prints a plan returned by lvs.apply as a table.
---@param plan table[]
function lvs.print_plan(plan) end

lvs.sysctl = {}

---A sysctl by dotted name ("net.ipv4.conf.all.arp_ignore") or /proc/sys path; integers come
---back as integers. net.* sysctls are those of the current network namespace.
---@param name string
---@return integer|string
function lvs.sysctl.get(name) end

---Sets a sysctl; an unknown name or a value the kernel refuses is an error naming it.
---@param name string
---@param value integer|string
function lvs.sysctl.set(name, value) end

---Every net.ipv4.vs.* setting (IPVS's own sysctls) as a table.
---@return table
function lvs.sysctl.vs() end

lvs.addr = {}

---Adds an address (over rtnetlink, as `ip addr add`). Already there is not an error.
---Example: lvs.addr.add{dev="eth0", addr="192.0.2.110/24", label="eth0:1"}
---@param a {dev: string, addr: string, label?: string}
---@return boolean added, string what
function lvs.addr.add(a) end

---Deletes an address. Not there is not an error.
---@param a {dev: string, addr: string}
---@return boolean deleted, string what
function lvs.addr.del(a) end

---The addresses of one device, or of all: {dev, addr, prefix, family, label, scope}.
---@param dev? string
---@return table[]
function lvs.addr.list(dev) end

lvs.link = {}

---The network devices: {index, name, up, mtu, kind}.
---@return table[]
function lvs.link.list() end

---Brings a device up; false if it was up already.
---@param dev string
---@return boolean
function lvs.link.up(dev) end

---Takes a device down; false if it was down already.
---@param dev string
---@return boolean
function lvs.link.down(dev) end

---Creates an ipip tunnel device (LVS-TUN); false if it exists.
---@param t {name: string, local?: string, remote?: string}
---@return boolean
function lvs.link.add_ipip(t) end

---Deletes a device; false if there is none by that name.
---@param dev string
---@return boolean
function lvs.link.del(dev) end

---Makes the following lvs calls (IPVS, addresses, sysctls) act in the network namespace
---/run/netns/NAME; lvs.netns() returns to the namespace lvsh started in.
---@param name? string
function lvs.netns(name) end

---Runs fn in the network namespace NAME and comes back, even if fn raises.
---@param name string
---@param fn function
function lvs.with_netns(name, fn) end

---Sets up an LVS-DR or LVS-TUN real server: arp_ignore=1 and arp_announce=2 on arp_devs
---(default {"all"}), the VIP as a /32 on dev (lo for DR, tunl0 for TUN, which is brought up,
---with rp_filter relaxed). {down=true} undoes exactly what was done. Returns the changes.
---Example: lvs.realserver{vip="192.0.2.110", dev="lo", label="lo:2", arp_devs={"all", "eth0"}}
---@param spec {vip: string, dev?: string, label?: string, arp_devs?: string[], method?: "dr"|"tun", down?: boolean}
---@return string[]
function lvs.realserver(spec) end

---Sets up a director: the VIP on dev (as an alias with label), and for NAT ip_forward=1.
---{down=true} undoes exactly what was done. Returns the changes.
---Example: lvs.director{vip="192.0.2.110/24", dev="eth0", label="eth0:1", method="dr"}
---@param spec {vip: string, dev: string, label?: string, method?: "dr"|"nat"|"tun", down?: boolean}
---@return string[]
function lvs.director(spec) end

-- Event loop ---------------------------------------------------------------------------

---Runs fn(...) as a task of its own (a coroutine on lvsh's event loop); its errors are
---logged. Tasks run while the script waits (lvs.sleep, checks, lvs.run) and, at the REPL,
---while the prompt waits. Returns a task: t:cancel(), t:done().
---@param fn function
---@return userdata
function lvs.spawn(fn, ...) end

---Waits s seconds without blocking other tasks.
---@param s number
function lvs.sleep(s) end

---Calls fn every s seconds (first after s); errors are logged and do not stop it.
---Returns a task: t:cancel() stops it.
---@param s number
---@param fn function
---@return userdata
function lvs.every(s, fn) end

---Calls fn once after s seconds. Returns a task: t:cancel() calls it off.
---@param s number
---@param fn function
---@return userdata
function lvs.after(s, fn) end

---Runs the event loop (monitors, tasks) until lvs.stop(), SIGINT or SIGTERM; returns why
---("stop", "SIGINT", "SIGTERM"). A script that only sets up monitors ends with lvs.run().
---Under systemd (NOTIFY_SOCKET) it sends READY=1 after the first round of checks, STATUS=
---lines, WATCHDOG=1 at half of WATCHDOG_USEC from the event loop, and STOPPING=1.
---While it runs, a script (not -e chunks) listens on its control socket, /run/lvsh/NAME.sock (NAME:
---lvsh --name, else the script's base name; LVSH_RUN_DIR moves /run/lvsh, LVSH_CONTROL=off
---turns it off): `lvsh attach NAME` opens a REPL inside it, `-e CHUNK` runs one chunk,
---`--follow` prints its log, `--events` its events. Only root and the director's uid may
---attach; a chunk from a client runs on the loop, yielding to it every millisecond so that
---checks keep their schedule, for at most lvs.budget (or --budget) of its own running; what
---it prints goes back to the client, and Ctrl-C there interrupts it.
---@return string
function lvs.run() end

---Makes lvs.run() return.
function lvs.stop() end

---The budget of Lua run by the event loop: how long a callback (lvs.every, lvs.after,
---lvs.spawn, on_signal, monitor hooks) may run without yielding before it is interrupted
---with a "budget: ..." error, and the most a Lua check may (a check's budget is otherwise
---its timeout; an interrupted check is a failed one). The loop goes on either way, and a
---signal waiting for it interrupts any Lua code after 0.3 s. Default 2 s; returns the
---budget in force before (seconds), and sets it to s when given.
---@param s? number
---@return number
function lvs.budget(s) end

---Calls fn(name) each time the signal comes ("HUP", "USR1", "USR2", "TERM", ...). A script
---that handles INT or TERM itself keeps lvs.run() from ending on it. Returns a task.
---@param name string
---@param fn function
---@return userdata
function lvs.on_signal(name, fn) end

---Calls fn(event) for every event from now on, in order: a table with ts (RFC 3339, ms),
---kind and its fields, as `lvsh attach NAME --events` prints them (one JSON object a line).
---Kinds: server_change, quorum, panic, apply, drain_started, drain_finished, override_set,
---override_lifted, override_expired, drift_found, drift_reverted, drift_adopted,
---drift_alert, drift_cleared, client_attached, client_detached, client_refused, anycast
---(dev, vips, announced, med, reason: an announcement starts or stops), shadow_disagreement
---and shadow_agreement (lvsh --shadow: service, server, kernel, lvsh). A handler
---that falls 4096 events behind is dropped (and logged) rather than slowing the director.
---Returns a task.
---Example: lvs.on_event(function(ev) if ev.kind == "server_change" then lvs.log.warn(ev.server, ev.to) end end)
---@param fn fun(event: table)
---@return userdata
function lvs.on_event(fn) end

---Serves Prometheus metrics from this director, on its event loop: listen = "127.0.0.1:9917"
---(the default: loopback only, as the log line says; an address on another interface lets
---anyone who reaches it read the table) or an absolute path for a Unix socket; path =
---"/metrics". The text exposition (OpenMetrics when the scraper's Accept asks for it) under
---lvsh_: per service the kernel's counters (connections, packets and bytes in and out) and
---rates; per real server its counters (rates too with server_rates = true: 100,000 more
---series on 20,000 servers, and rate() of the counters says the same), active, inactive and
---persistent connections, the table's weight; per monitored server up (1/0), in_table,
---seconds since its last check, its check's latency, checks run and failed by kind, health
---transitions, an override's weight; per service the checks taken in, a check duration
---histogram by kind, quorum met, max_down holding, sorry server in, live weight;
---/proc/net/ip_vs_stats totals; loop lag, probes in flight, overrides held, events by kind.
---A scrape reads the kernel once, on a thread of its own, and streams the text.
---node_compat = true adds node_exporter's ipvs series (node_ipvs_*: the same names, labels
---and values; SCTP services' servers under their own service, where node_exporter files them
---under the service before). `lvsh metrics [--node-compat]` prints the kernel's side once.
---Returns a task.
---Example: lvs.metrics{listen = "127.0.0.1:9917", node_compat = true}
---@param spec? {listen?: string, path?: string, node_compat?: boolean, server_rates?: boolean}
---@return userdata
function lvs.metrics(spec) end

lvs.log = {}

---Logs a timestamped line on stderr (and to syslog/the journal with lvsh --syslog); at the
---REPL it goes above the prompt. Arguments are joined with spaces.
function lvs.log.info(...) end

---As lvs.log.info, at warning level.
function lvs.log.warn(...) end

---As lvs.log.info, at error level.
function lvs.log.error(...) end

---Appends every log line to this file as well (created 0600): for hooks that keepalived
---runs with no terminal. Refused when the path is a symbolic link or not a regular file.
---@param path string
function lvs.log.file(path) end

---How many log lines stderr did not take (its reader went away, as `2>&1 | head` does):
---they are dropped there, and still go to lvs.log.file and syslog.
---@return integer
function lvs.log.dropped() end

-- Checks ---------------------------------------------------------------------------------
-- Each check, given addr, runs now and returns ok, detail, latency_ms (exec adds the weight
-- it asked for). Without addr it returns a check for lvs.monitor, aimed at each real server
-- (on `port` if given); such a check can also be called: chk("192.0.2.101:80").

lvs.check = {}

---TCP connect. Example: lvs.check.tcp{addr="192.0.2.101:80", timeout=2}
---The handshake completes (as keepalived's TCP_CHECK) unless half_open=true: then, as
---HAProxy's connect check, the SYN-ACK is never acknowledged and the close is a reset, so
---the server's application is never woken (cheaper on both sides; it proves the port listens,
---not that the application accepts).
---@param t {addr?: string, port?: integer, timeout?: number, half_open?: boolean}
function lvs.check.tcp(t) end

---HTTP(S) GET: status must be in `status` (200 or a list), body match the Lua pattern
---`body` (read at most max_body bytes, 64 KiB). No redirects, no proxy; with tls=true the
---certificate is not verified (servers are checked by address). host sets the Host header
---(and the TLS server name). keepalived's body tests: `digest` (the MD5 of the body in hex,
---as genhash prints it; the body must fit in max_body) and `regex` (a regular expression the
---body must match, or with regex_no_match=true must not).
---Example: lvs.check.http{addr="192.0.2.101:80", path="/health", body="ok"}
---@param t {addr?: string, port?: integer, path?: string, host?: string, status?: integer|integer[], body?: string, digest?: string, regex?: string, regex_no_match?: boolean, timeout?: number, tls?: boolean, headers?: table<string,string>, max_body?: integer}
function lvs.check.http(t) end

---UDP: sends `send`, waits for a reply (matching the Lua pattern `expect`, if given).
---@param t {addr?: string, port?: integer, send: string, expect?: string, timeout?: number}
function lvs.check.udp(t) end

---DNS over UDP: asks for name/type (default "A", port 53); up when the answer is NOERROR and
---has a record of that type.
---@param t {addr?: string, port?: integer, name: string, type?: string, timeout?: number}
function lvs.check.dns(t) end

---Runs a program (argv, never a shell string) in its own process group, killed whole at the
---timeout. Exit 0 is up, 1 down, 2+N up with weight N (keepalived's dynamic MISC_CHECK).
---"{ip}", "{port}", "{addr}" in arguments become the server's; a command with them waits
---for a server (a check for lvs.monitor), one without runs now.
---Example: lvs.check.exec{cmd={"/usr/local/bin/check-db", "{ip}"}, timeout=5}
---@param t {cmd: string[], addr?: string, timeout?: number}
function lvs.check.exec(t) end

lvs.net = {}

---Opens a TCP connection (for checks written in Lua); c:send(s), c:receive(n|"l"|"a"),
---c:close(). Every call waits at most `timeout` seconds (default 5); reads are capped at 1 MiB.
---@param addr string
---@param timeout? number
---@return userdata
function lvs.net.connect(addr, timeout) end

lvs.http = {}

---GET a URL; returns status, body, headers (lower-case names). Body capped (1 MiB default).
---@param t string|{url: string, host?: string, headers?: table<string,string>, timeout?: number, max_body?: integer}
---@return integer, string, table
function lvs.http.get(t) end

-- Monitors ---------------------------------------------------------------------------------

---@class MonitorSpec
---@field service ServiceSpec|Service the service whose real servers are checked
---@field check any lvs.check.http{...}, "tcp", "http", a function(server) returning ok, detail[, weight] (weight: the one to give it, as an exec check's 2+N), or a list (all must pass)
---@field interval? number seconds between checks of a server (default 5), spread over the interval
---@field retry_interval? number seconds before a failing check of an up server runs again, until it passes or the server falls (keepalived's delay_before_retry; default: the interval)
---@field timeout? number seconds a check may take (default 3) unless the check sets its own
---@field rise? integer successes that bring a down server back (default 2)
---@field fall? integer failures that take an up server out (default 3)
---@field action? "inhibit"|"remove" weight 0 (connections drain; default) or delete
---@field alpha? boolean servers start down until they pass
---@field warmup? number seconds before the first checks
---@field sorry? string|ServerSpec put in when no real server is up
---@field sorry_inhibit? boolean the sorry server stays in the table at weight 0 while it is not wanted (keepalived's sorry_server_inhibit)
---@field sorry_quorum? boolean the sorry server replaces the real servers still up when the quorum is lost, and they come back with it (keepalived's sorry_server with a quorum)
---@field quorum? integer on_quorum(false) when the live weight drops below quorum - hysteresis
---@field hysteresis? integer on_quorum(true) again at quorum + hysteresis
---@field max_down? integer|string most servers out at once (3, "50%"); past it, failing servers stay in and on_panic runs
---@field servers? table per server: {["192.0.2.101:80"] = {check=..., weight=...}}
---@field on_change? function fn(ev): ev.server, ev.from, ev.to, ev.reason, ev.detail
---@field on_quorum? function fn(up, ev): ev.weight, ev.quorum
---@field on_panic? function fn(ev): ev.server, ev.out, ev.max_down

---Checks every real server of a service and takes failing ones out (and puts them back).
---Servers added to the service later are picked up; one that someone else deletes is
---forgotten. A server watched the same way by several monitors is probed once. Returns a
---monitor: m:status(), m:stop() (weights are left as they are), m.service.
---Example: lvs.monitor{service={addr="192.0.2.110:80"}, check=lvs.check.http{path="/health"}, interval=2}
---@param spec MonitorSpec
---@return userdata
function lvs.monitor(spec) end

---The running monitors.
---@return userdata[]
function lvs.monitors() end

---Prints every monitored server: state, weight, last check, latency, detail, and (while one
---holds a server) its override: kind, id, weight and reason (in m:status().servers, the
---fields override and held_weight).
function lvs.show_monitors() end

---How many probes have run since lvsh started (all monitors).
---@return integer
function lvs.probes_run() end

---How monitors have read the table since lvsh started: `dumps`, the services dumped over
---netlink (one per monitor at its start, then only for a service that changed), and
---`shared`, the reads of the whole table (/proc/net/ip_vs) that tell each monitor whether its
---service changed. Without a shared read (a dry run, or a few services of a big table, where
---dumps cost less) every monitor dumps its service every interval.
---@return {dumps: integer, shared: integer}
function lvs.monitor_reads() end

---@class Service
local Service = {}

---Adds a real server to this service.
---@param rs ServerSpec|string
---@return Server
function Service:add_server(rs) end

---Changes a real server of this service.
---@param rs ServerSpec
---@return Server
function Service:edit_server(rs) end

---Deletes a real server of this service.
---@param addr string|Server
function Service:del_server(addr) end

---Changes fields of this service and refreshes the object.
---@param fields ServiceSpec
---@return Service
function Service:edit(fields) end

---Deletes this service.
function Service:delete() end

---Zeroes this service's counters.
function Service:zero() end

---Reads this service again from the kernel (counters, servers, settings).
---@return Service
function Service:refresh() end
