package awstest

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/testproc"
)

// VersitygwVersion is the versitygw release the tests and
// scripts/aws-emulators/start.sh use.
const VersitygwVersion = "v1.8.0"

const versitygwModule = "github.com/versity/versitygw"

// installedStamp is written into node_modules after a successful npm ci: a
// copy of the package-lock.json it installed. start.sh uses the same file.
const installedStamp = ".sluice-installed-lock"

// npmLockFile, in scripts/aws-emulators, is flocked around checking and
// running npm ci, here and by start.sh (flock(1)), so that one npm ci runs
// at a time and nobody trusts a node_modules that is being replaced.
const npmLockFile = ".npm-install.lock"

// emulatorsDir returns scripts/aws-emulators of this repository: found by
// walking up from the working directory (go test runs in the package
// directory), else from this source file's path.
func emulatorsDir() (string, error) {
	const rel = "scripts/aws-emulators"
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if fileExists(filepath.Join(d, rel, "package.json")) {
				return filepath.Join(d, rel), nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "..", "..", rel)
		if fileExists(filepath.Join(d, "package.json")) {
			return filepath.Clean(d), nil
		}
	}
	return "", errors.New("awstest: scripts/aws-emulators/package.json not found above the working directory")
}

var nodeInstall struct {
	once sync.Once
	dir  string
	err  error
}

// nodeModules makes sure kinesalite and dynalite are installed under
// scripts/aws-emulators (npm ci, once per machine and lockfile, under
// npmLockFile since go test runs several test binaries at once, and
// start.sh may run too) and returns that directory.
func nodeModules() (string, error) {
	nodeInstall.once.Do(func() {
		nodeInstall.dir, nodeInstall.err = installNodeModules()
	})
	return nodeInstall.dir, nodeInstall.err
}

func installNodeModules() (string, error) {
	dir, err := emulatorsDir()
	if err != nil {
		return "", err
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("awstest: node not found on PATH (Node.js 20 or later runs kinesalite and dynalite)")
	}
	// Checked only under the lock: another process may be halfway
	// through npm ci.
	unlock, err := lockFile(filepath.Join(dir, npmLockFile))
	if err != nil {
		return "", err
	}
	defer unlock()
	if nodeModulesCurrent(dir) {
		return dir, nil
	}
	begin := time.Now()
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("awstest: npm ci in %s: %w\n%s", dir, err, testproc.Tail(string(out), 30))
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("awstest: %w", err)
	}
	stamp := filepath.Join(dir, "node_modules", installedStamp)
	if err := os.WriteFile(stamp+".tmp", lock, 0o644); err != nil {
		return "", fmt.Errorf("awstest: %w", err)
	}
	if err := os.Rename(stamp+".tmp", stamp); err != nil {
		return "", fmt.Errorf("awstest: %w", err)
	}
	logf("npm ci in %s took %v", dir, time.Since(begin).Round(time.Millisecond))
	return dir, nil
}

// nodeModulesCurrent reports whether node_modules was installed from the
// current package-lock.json.
func nodeModulesCurrent(dir string) bool {
	want, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	got, err := os.ReadFile(filepath.Join(dir, "node_modules", installedStamp))
	return err == nil && bytes.Equal(want, got)
}

var versitygwInstall struct {
	once sync.Once
	bin  string
	err  error
}

// EnvVersitygw names the environment variable that points at a versitygw
// binary to use as is.
const EnvVersitygw = "SLUICE_VERSITYGW"

// versitygwBinary returns the versitygw binary: $SLUICE_VERSITYGW; else
// <user cache dir>/sluice/tools/versitygw-<version>/versitygw (where
// start.sh installs it too); else a versitygw of VersitygwVersion on PATH or
// in $GOPATH/bin; else it go-installs it into that cache directory, once per
// machine.
func versitygwBinary() (string, error) {
	versitygwInstall.once.Do(func() {
		versitygwInstall.bin, versitygwInstall.err = findOrInstallVersitygw()
	})
	return versitygwInstall.bin, versitygwInstall.err
}

// findOrInstallVersitygw does the work of versitygwBinary. It holds
// <dir>.lock (flocked by start.sh too) while it looks and installs, and
// installs into a temporary GOBIN next to dir, then renames the binary into
// place: a binary in dir is always complete.
func findOrInstallVersitygw() (string, error) {
	if bin := os.Getenv(EnvVersitygw); bin != "" {
		return bin, nil
	}
	dir, err := versitygwDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("awstest: %w", err)
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()

	bin := filepath.Join(dir, "versitygw")
	// Its build info also rules out a binary cut short by an older
	// installer that wrote in place.
	if fileExists(bin) && versitygwVersionOf(bin) == VersitygwVersion {
		return bin, nil
	}
	var candidates []string
	if p, err := exec.LookPath("versitygw"); err == nil {
		candidates = append(candidates, p)
	}
	if out, err := exec.Command(goBinary(), "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			candidates = append(candidates, filepath.Join(gp, "bin", "versitygw"))
		}
	}
	for _, c := range candidates {
		if versitygwVersionOf(c) == VersitygwVersion {
			return c, nil
		}
	}
	if err := installVersitygw(dir); err != nil {
		return "", err
	}
	return bin, nil
}

// installVersitygw go-installs versitygw into a temporary directory beside
// dir and renames it to dir/versitygw. The caller holds dir's lock.
func installVersitygw(dir string) error {
	// Left by an install that was killed; nobody else installs now.
	if stale, err := filepath.Glob(dir + ".tmp-*"); err == nil {
		for _, d := range stale {
			os.RemoveAll(d)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("awstest: %w", err)
	}
	defer os.RemoveAll(tmp)
	begin := time.Now()
	cmd := exec.Command(goBinary(), "install", versitygwModule+"/cmd/versitygw@"+VersitygwVersion)
	// GOFLAGS from the environment (-mod=vendor, say) are for sluice, not
	// for this install.
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("awstest: go install versitygw@%s: %w\n%s", VersitygwVersion, err, testproc.Tail(string(out), 30))
	}
	built := filepath.Join(tmp, "versitygw")
	if err := syncPath(built); err != nil {
		return fmt.Errorf("awstest: installed versitygw: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("awstest: %w", err)
	}
	if err := os.Rename(built, filepath.Join(dir, "versitygw")); err != nil {
		return fmt.Errorf("awstest: move versitygw into place: %w", err)
	}
	if err := syncPath(dir); err != nil {
		return fmt.Errorf("awstest: %w", err)
	}
	logf("go install versitygw@%s took %v", VersitygwVersion, time.Since(begin).Round(time.Millisecond))
	return nil
}

// syncPath fsyncs a file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// versitygwDir is where versitygw is installed:
// $XDG_CACHE_HOME/sluice/tools/versitygw-<version>, or ~/.cache/... .
func versitygwDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("awstest: where to install versitygw: %w", err)
	}
	return filepath.Join(cache, "sluice", "tools", "versitygw-"+VersitygwVersion), nil
}

// versitygwVersionOf returns the versitygw module version bin was built
// from ("" when unknown): versitygw --version prints none when built by go
// install.
func versitygwVersionOf(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil || bi.Main.Path != versitygwModule {
		return ""
	}
	return bi.Main.Version
}

// goBinary returns the go command: the one on PATH, else the one of the
// toolchain that built this test.
func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// lockFile takes an exclusive flock on path and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("awstest: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("awstest: lock %s: %w", path, err)
	}
	return func() {
		// Closing the file releases the lock; an error here changes
		// nothing for the caller.
		_ = f.Close()
	}, nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
