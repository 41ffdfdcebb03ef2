package localnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerSpec is what the helper needs to start a container: written to a file by the node, read by
// ContainerExec in the container's new mount namespace.
type containerSpec struct {
	Argv       []string `json:"argv"`
	Env        []string `json:"env"`
	WorkingDir string   `json:"workingDir,omitempty"`
	Mounts     []mount  `json:"mounts"`
	// TerminationLog is the host file that appears at the container's terminationMessagePath.
	TerminationLog mount `json:"terminationLog"`
}

type mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// containerSpec resolves a container's command, environment and mounts and writes them to a spec file,
// whose path it returns.
func (r *podRunner) containerSpec(ctx context.Context, c corev1.Container) (string, error) {
	env, err := r.environment(ctx, c)
	if err != nil {
		return "", err
	}
	argv, err := r.command(c, env)
	if err != nil {
		return "", err
	}
	spec := containerSpec{Argv: argv, WorkingDir: c.WorkingDir}
	for _, e := range env {
		spec.Env = append(spec.Env, e.Name+"="+e.Value)
	}
	for _, m := range c.VolumeMounts {
		source, ok := r.volumePath(m.Name)
		if !ok {
			return "", fmt.Errorf("container %s mounts volume %q, which the pod does not have", c.Name, m.Name)
		}
		if m.SubPath != "" {
			source = filepath.Join(source, m.SubPath)
		}
		spec.Mounts = append(spec.Mounts, mount{Source: source, Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	termination := r.terminationPath(c.Name)
	if err := os.MkdirAll(filepath.Dir(termination), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(termination, nil, 0o666); err != nil {
		return "", err
	}
	target := c.TerminationMessagePath
	if target == "" {
		target = corev1.TerminationMessagePathDefault
	}
	spec.TerminationLog = mount{Source: termination, Target: target}

	data, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	path := filepath.Join(r.dir, "specs", c.Name+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(r.logPath(c.Name)), 0o700); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

// command is the container's argv: its command, or the image's entrypoint, then its args, with $(VAR)
// references expanded from its environment as the kubelet does.
func (r *podRunner) command(c corev1.Container, env []corev1.EnvVar) ([]string, error) {
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	command := c.Command
	if len(command) == 0 {
		binary, ok := r.node.opts.Images[c.Image]
		if !ok {
			return nil, fmt.Errorf("container %s has no command and localnode knows no entrypoint for image %q: map the image to a binary", c.Name, c.Image)
		}
		command = []string{binary}
	}
	var argv []string
	for _, arg := range append(append([]string(nil), command...), c.Args...) {
		argv = append(argv, expand(arg, vars))
	}
	return argv, nil
}

// environment is the container's environment: the API server's address, its env and envFrom resolved,
// and a PATH on which a mapped image's binary is found.
func (r *podRunner) environment(ctx context.Context, c corev1.Container) ([]corev1.EnvVar, error) {
	port := strconv.Itoa(r.node.opts.APIServerPort)
	env := []corev1.EnvVar{
		{Name: "KUBERNETES_SERVICE_HOST", Value: r.node.opts.APIServerHost},
		{Name: "KUBERNETES_SERVICE_PORT", Value: port},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: port},
		{Name: "KUBERNETES_PORT", Value: "tcp://" + r.node.opts.APIServerHost + ":" + port},
		{Name: "HOSTNAME", Value: r.pod.Name},
		{Name: "HOME", Value: "/root"},
	}
	path, err := r.imagePath(c.Image)
	if err != nil {
		return nil, err
	}
	env = append(env, corev1.EnvVar{Name: "PATH", Value: path})

	for _, from := range c.EnvFrom {
		data, err := r.envSource(ctx, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env = setEnv(env, from.Prefix+k, v)
		}
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	for _, e := range c.Env {
		value := expand(e.Value, vars)
		if e.ValueFrom != nil {
			if value, err = r.envValue(ctx, e.ValueFrom); err != nil {
				return nil, fmt.Errorf("env %s of container %s: %w", e.Name, c.Name, err)
			}
		}
		env = setEnv(env, e.Name, value)
		vars[e.Name] = value
	}
	return env, nil
}

func setEnv(env []corev1.EnvVar, name, value string) []corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			env[i].Value = value
			return env
		}
	}
	return append(env, corev1.EnvVar{Name: name, Value: value})
}

func (r *podRunner) envValue(ctx context.Context, from *corev1.EnvVarSource) (string, error) {
	switch {
	case from.FieldRef != nil:
		return r.fieldValue(from.FieldRef.FieldPath)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := r.node.opts.Client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ptrTrue(ref.Optional) {
				return "", nil
			}
			return "", err
		}
		return cm.Data[ref.Key], nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		secret, err := r.node.opts.Client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ptrTrue(ref.Optional) {
				return "", nil
			}
			return "", err
		}
		return string(secret.Data[ref.Key]), nil
	default:
		// resourceFieldRef: no limits are enforced here, so there is nothing true to say.
		return "", nil
	}
}

func (r *podRunner) envSource(ctx context.Context, from corev1.EnvFromSource) (map[string]string, error) {
	data := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		cm, err := r.node.opts.Client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil {
			if ptrTrue(from.ConfigMapRef.Optional) {
				return data, nil
			}
			return nil, err
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		secret, err := r.node.opts.Client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			if ptrTrue(from.SecretRef.Optional) {
				return data, nil
			}
			return nil, err
		}
		for k, v := range secret.Data {
			data[k] = string(v)
		}
	}
	return data, nil
}

// fieldValue resolves a downward API field path.
func (r *podRunner) fieldValue(path string) (string, error) {
	pod := r.pod
	switch {
	case path == "metadata.name":
		return pod.Name, nil
	case path == "metadata.namespace":
		return pod.Namespace, nil
	case path == "metadata.uid":
		return string(pod.UID), nil
	case path == "spec.nodeName":
		return r.node.opts.NodeName, nil
	case path == "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case path == "status.hostIP", path == "status.podIP", path == "status.hostIPs", path == "status.podIPs":
		return "127.0.0.1", nil
	case strings.HasPrefix(path, "metadata.labels['"):
		return pod.Labels[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.labels['"), "']")], nil
	case strings.HasPrefix(path, "metadata.annotations['"):
		return pod.Annotations[strings.TrimSuffix(strings.TrimPrefix(path, "metadata.annotations['"), "']")], nil
	}
	return "", fmt.Errorf("localnode does not support the field %q", path)
}

// imagePath is the container's PATH: for a mapped image, a directory where the image's binary is found
// under its own name, then the host's PATH.
func (r *podRunner) imagePath(image string) (string, error) {
	hostPath := os.Getenv("PATH")
	binary, ok := r.node.opts.Images[image]
	if !ok {
		return hostPath, nil
	}
	sum := sha256.Sum256([]byte(image))
	dir := filepath.Join(r.node.opts.StateDir, "images", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	link := filepath.Join(dir, filepath.Base(binary))
	if target, err := os.Readlink(link); err != nil || target != binary {
		_ = os.Remove(link)
		if err := os.Symlink(binary, link); err != nil {
			return "", err
		}
	}
	return dir + ":" + hostPath, nil
}

// expand replaces $(NAME) with the value of NAME, and $$ with $, as the kubelet does for command, args
// and env; unknown references stay as they are.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if value, ok := vars[name]; ok {
				b.WriteString(value)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// ContainerExec starts a container's program in the current process, which the node started in new
// mount and PID namespaces: it gives the container a /proc and a /dev of its own, the latter with its
// termination log, binds the pod's volumes at their mount paths, and execs the program. It returns only
// on failure.
func ContainerExec(specPath string) error {
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var spec containerSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return err
	}
	// The container's own PID namespace shows in a /proc of its own.
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := privateDev(spec.TerminationLog); err != nil {
		return fmt.Errorf("setting up /dev: %w", err)
	}
	for _, m := range spec.Mounts {
		if err := bindMount(m); err != nil {
			return fmt.Errorf("mounting %s at %s: %w", m.Source, m.Target, err)
		}
	}
	if spec.WorkingDir != "" {
		if err := os.MkdirAll(spec.WorkingDir, 0o755); err != nil {
			return err
		}
		if err := os.Chdir(spec.WorkingDir); err != nil {
			return err
		}
	}
	for _, e := range spec.Env {
		if path, ok := strings.CutPrefix(e, "PATH="); ok {
			os.Setenv("PATH", path)
		}
	}
	program, err := exec.LookPath(spec.Argv[0])
	if err != nil {
		return &exitCodeError{code: 127, err: fmt.Errorf("%s: command not found", spec.Argv[0])}
	}
	err = syscall.Exec(program, spec.Argv, spec.Env)
	return &exitCodeError{code: 126, err: fmt.Errorf("running %s: %w", program, err)}
}

// exitCodeError carries the exit code a failed start should end with, like a shell's 126 and 127.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }

// ExitCode is the exit code for an error from ContainerExec.
func ExitCode(err error) int {
	var e *exitCodeError
	if errors.As(err, &e) {
		return e.code
	}
	return 128
}

// privateDev mounts a fresh /dev holding the usual devices of the host's and the container's own
// termination log, so that no file is created in the host's /dev.
func privateDev(termination mount) error {
	host, err := os.MkdirTemp("", "localnode-dev-")
	if err != nil {
		return err
	}
	defer os.Remove(host)
	if err := syscall.Mount("/dev", host, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	defer syscall.Unmount(host, syscall.MNT_DETACH)
	if err := syscall.Mount("tmpfs", "/dev", "tmpfs", syscall.MS_NOSUID, "mode=755"); err != nil {
		return err
	}
	for _, device := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if err := bindMount(mount{Source: filepath.Join(host, device), Target: filepath.Join("/dev", device)}); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join("/dev", name)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll("/dev/shm", 0o1777); err != nil {
		return err
	}
	return bindMount(termination)
}

// bindMount makes source appear at target, creating target (a directory, or a file for a file).
func bindMount(m mount) error {
	info, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	if info.IsDir() {
		err = os.MkdirAll(m.Target, 0o755)
	} else {
		if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(m.Target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
				f.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		return syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, "")
	}
	return nil
}
