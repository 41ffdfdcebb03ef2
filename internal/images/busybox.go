package images

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	specsv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// busyboxVersion finds the version in busybox's usage text: "BusyBox v1.35.0 (Debian ...) multi-call binary.".
var busyboxVersion = regexp.MustCompile(`^BusyBox v(\d+\.\d+\.\d+)`)

// BusyboxVersion returns the version of the busybox binary at path, like "1.35.0".
func BusyboxVersion(path string) (string, error) {
	out, err := exec.Command(path).Output()
	if err != nil {
		return "", fmt.Errorf("running %s: %w", path, err)
	}
	m := busyboxVersion.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s does not say which BusyBox version it is", path)
	}
	return string(m[1]), nil
}

// busyboxTag is the tag the Busybox image is pushed with: the major and minor version, like Docker
// Hub's busybox:1.35, so that samples can name it the way they would name that image.
func busyboxTag(version string) string {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// buildBusybox makes a shell image like Docker Hub's busybox from opts.Busybox: the binary at
// /bin/busybox and a symlink in /bin for each of its applets, on the minimal base, running as root.
func buildBusybox(ctx context.Context, base v1.Image, opts BuildOptions) (v1.Image, error) {
	content, err := os.ReadFile(opts.Busybox)
	if err != nil {
		return nil, err
	}
	version, err := BusyboxVersion(opts.Busybox)
	if err != nil {
		return nil, err
	}
	list, err := exec.CommandContext(ctx, opts.Busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the applets of %s: %w", opts.Busybox, err)
	}
	files := []file{{name: "/bin/busybox", mode: 0o755, content: content}}
	for _, applet := range strings.Fields(string(bytes.TrimSpace(list))) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			files = append(files, file{name: "/bin/" + applet, mode: fs.ModeSymlink | 0o777, link: "busybox"})
		}
	}
	layer, err := newLayer(opts.Created, files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: history(opts.Created, "COPY /bin/busybox and its applets")})
	if err != nil {
		return nil, err
	}
	return configure(img, opts.Created, func(cfg *v1.Config) {
		cfg.User = ""
		cfg.Cmd = []string{"sh"}
		cfg.Env = setEnv(cfg.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
		// The version and license are BusyBox's; source and revision say which LongTask built the image.
		cfg.Labels = withLabels(cfg.Labels, map[string]string{
			specsv1.AnnotationTitle:       "busybox",
			specsv1.AnnotationDescription: "BusyBox " + version + ", a shell for LongTask's samples",
			specsv1.AnnotationSource:      sourceURL,
			specsv1.AnnotationVersion:     version,
			specsv1.AnnotationRevision:    opts.Revision,
			specsv1.AnnotationLicenses:    busyboxLicense,
		})
	})
}
