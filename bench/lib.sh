# bench/lib.sh: what the bench scripts share. Source it after setting
# TMP (where the stderr files go), MXD (the maxwell binary to run as the
# daemon) and PIDS (an array of what cleanup stops).

# listening PORT: something takes connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_maxwell NAME CONFIG PORT: maxwell serve -c CONFIG, until it
# listens on PORT; its PID is added to PIDS and set as PID_PORT.
start_maxwell() {
	listening "$3" && { echo "port $3 is already in use"; exit 1; }
	"$MXD" serve -c "$2" >/dev/null 2>"$TMP/$1.stderr" &
	local pid=$!
	PIDS+=($pid)
	eval "PID_$3=$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		listening "$3" && return
		sleep 0.1
	done
	echo "maxwell ($1) did not start:"; cat "$TMP/$1.stderr"; exit 1
}
