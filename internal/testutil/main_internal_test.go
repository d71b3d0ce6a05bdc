package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestChildArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"go test's flags",
			[]string{"-test.testlogfile=/o/testlog.txt", "-test.paniconexit0", "-test.timeout=10m0s", "-test.run=^TestA$", "-test.v=true"},
			[]string{"-test.testlogfile=/o/testlog.txt.postgres", "-test.paniconexit0=true", "-test.timeout=9m50s", "-test.run=^TestA$", "-test.v=true"}},
		{"output files",
			[]string{"-test.coverprofile=c.out", "-test.cpuprofile", "cpu.prof", "-test.trace=t.out", "-test.memprofile=", "pkg/x"},
			[]string{"-test.coverprofile=c.out.postgres", "-test.cpuprofile=cpu.prof.postgres", "-test.trace=t.out.postgres", "-test.memprofile=", "pkg/x"}},
		{"timeout nearly spent",
			[]string{"-test.timeout=5s", "-test.count=2"},
			[]string{"-test.timeout=1s", "-test.count=2"}},
		{"no timeout", []string{"-test.timeout=0s"}, []string{"-test.timeout=0s"}},
		{"separate values", []string{"-test.run", "TestX", "-test.v", "-test.short"}, []string{"-test.run=TestX", "-test.v=true", "-test.short=true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := childArgs(tt.args, 10*time.Second)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("childArgs(%q) = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

// fakeBinary writes a script that stands for the test binary of the second
// run: it prints its backend and arguments, writes a test log when asked
// for one, and exits with code.
func fakeBinary(t *testing.T, code string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	p := filepath.Join(t.TempDir(), "fake.test")
	script := `#!/bin/sh
echo "backend=$ATLITE_TEST_BACKEND"
for a in "$@"; do
	echo "arg=$a"
	case $a in -test.testlogfile=*) printf '# test log\ngetenv CHILD\n' >"${a#-test.testlogfile=}" ;; esac
done
exit ` + code + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunMatrix(t *testing.T) {
	tests := []struct {
		name           string
		backend, pg    string
		args           []string // after the binary
		runCode, child string   // run's exit code; the fake binary's
		wantRuns       int
		wantChild      bool
		wantCode       int
	}{
		{"sqlite only", "", "", nil, "0", "0", 1, false, 0},
		{"sqlite only, failing", "", "", nil, "1", "0", 1, false, 1},
		{"both", "", "postgres://h/db", []string{"-test.run=TestA"}, "0", "0", 1, true, 0},
		{"both, postgres fails", "", "postgres://h/db", nil, "0", "3", 1, true, 3},
		{"both, sqlite fails", "", "postgres://h/db", nil, "1", "0", 1, true, 1},
		{"postgres chosen", "postgres", "postgres://h/db", nil, "0", "0", 1, false, 0},
		{"sqlite chosen", "sqlite", "postgres://h/db", nil, "0", "0", 1, false, 0},
		{"listing", "", "postgres://h/db", []string{"-test.list=."}, "0", "0", 1, false, 0},
		{"fuzzing", "", "postgres://h/db", []string{"-test.fuzz=FuzzX"}, "0", "0", 1, false, 0},
		{"fuzz worker", "", "postgres://h/db", []string{"-test.fuzzworker"}, "0", "0", 1, false, 0},
		{"unknown backend", "mysql", "", nil, "0", "0", 0, false, 2},
		{"postgres without server", "postgres", "", nil, "0", "0", 0, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvBackend, tt.backend)
			t.Setenv(EnvPostgres, tt.pg)
			bin := fakeBinary(t, tt.child)
			runs := 0
			run := func() int {
				runs++
				if b := os.Getenv(EnvBackend); b != Backend() || (tt.backend == "" && b != BackendSQLite) {
					t.Errorf("during run: %s=%q", EnvBackend, b)
				}
				if tt.runCode == "1" {
					return 1
				}
				return 0
			}
			var stdout, stderr bytes.Buffer
			code := runMatrix(run, append([]string{bin}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode || runs != tt.wantRuns {
				t.Errorf("runMatrix = %d after %d runs, want %d after %d (stderr %q)", code, runs, tt.wantCode, tt.wantRuns, stderr.String())
			}
			ran := strings.Contains(stdout.String(), "backend=postgres\n")
			if ran != tt.wantChild {
				t.Errorf("second run on postgres: %v, want %v (stdout %q)", ran, tt.wantChild, stdout.String())
			}
			if ran {
				for _, a := range tt.args {
					if !strings.Contains(stdout.String(), "arg="+a+"\n") {
						t.Errorf("second run lacks argument %q: %q", a, stdout.String())
					}
				}
			}
		})
	}
}

// TestRunMatrixTestLog checks that the go command's test log ends up with
// the variables Main read and what the second run logged.
func TestRunMatrixTestLog(t *testing.T) {
	t.Setenv(EnvBackend, "")
	t.Setenv(EnvPostgres, "postgres://h/db")
	bin := fakeBinary(t, "0")
	logPath := filepath.Join(t.TempDir(), "testlog.txt")
	run := func() int {
		os.WriteFile(logPath, []byte("# test log\ngetenv PARENT\n"), 0o644)
		return 0
	}
	var stdout, stderr bytes.Buffer
	if code := runMatrix(run, []string{bin, "-test.testlogfile=" + logPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("runMatrix = %d (%s)", code, stderr.String())
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "# test log\ngetenv PARENT\ngetenv ATLITE_TEST_POSTGRES\ngetenv ATLITE_TEST_BACKEND\ngetenv CHILD\n"
	if string(b) != want {
		t.Errorf("test log = %q, want %q", b, want)
	}
	if _, err := os.Stat(logPath + ".postgres"); !os.IsNotExist(err) {
		t.Errorf("the second run's log is left: %v", err)
	}
}
