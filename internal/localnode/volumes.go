package localnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// tokenLifetime is how long a pod's service account token lasts. The kubelet refreshes tokens; this node
// does not, so it asks for tokens that outlast a development session.
const tokenLifetime = 7 * 24 * time.Hour

// prepareVolumes makes each of the pod's volumes a directory under the pod's directory: emptyDirs empty,
// and configMaps, secrets, downward API files and projected service account tokens written out.
func (r *podRunner) prepareVolumes(ctx context.Context) error {
	for _, v := range r.pod.Spec.Volumes {
		dir := filepath.Join(r.dir, "volumes", v.Name)
		if v.HostPath != nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		var err error
		switch {
		case v.EmptyDir != nil:
		case v.ConfigMap != nil:
			err = r.writeConfigMap(ctx, dir, v.ConfigMap.Name, v.ConfigMap.Items, ptrTrue(v.ConfigMap.Optional))
		case v.Secret != nil:
			err = r.writeSecret(ctx, dir, v.Secret.SecretName, v.Secret.Items, ptrTrue(v.Secret.Optional))
		case v.DownwardAPI != nil:
			err = r.writeDownwardAPI(dir, v.DownwardAPI.Items)
		case v.Projected != nil:
			for _, source := range v.Projected.Sources {
				switch {
				case source.ServiceAccountToken != nil:
					err = r.writeToken(ctx, dir, source.ServiceAccountToken)
				case source.ConfigMap != nil:
					err = r.writeConfigMap(ctx, dir, source.ConfigMap.Name, source.ConfigMap.Items, ptrTrue(source.ConfigMap.Optional))
				case source.Secret != nil:
					err = r.writeSecret(ctx, dir, source.Secret.Name, source.Secret.Items, ptrTrue(source.Secret.Optional))
				case source.DownwardAPI != nil:
					err = r.writeDownwardAPI(dir, source.DownwardAPI.Items)
				}
				if err != nil {
					break
				}
			}
		default:
			err = fmt.Errorf("localnode does not support the kind of volume %q", v.Name)
		}
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
	}
	return nil
}

// volumePath is where a volume's files are on the host.
func (r *podRunner) volumePath(name string) (string, bool) {
	for _, v := range r.pod.Spec.Volumes {
		if v.Name != name {
			continue
		}
		if v.HostPath != nil {
			return v.HostPath.Path, true
		}
		return filepath.Join(r.dir, "volumes", name), true
	}
	return "", false
}

// writeToken writes a token of the pod's service account, bound to the pod, as the kubelet projects it.
func (r *podRunner) writeToken(ctx context.Context, dir string, source *corev1.ServiceAccountTokenProjection) error {
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(tokenLifetime.Seconds())),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: r.pod.Name, UID: r.pod.UID},
	}}
	if source.Audience != "" {
		request.Spec.Audiences = []string{source.Audience}
	}
	account := r.pod.Spec.ServiceAccountName
	if account == "" {
		account = "default"
	}
	token, err := r.node.opts.Client.CoreV1().ServiceAccounts(r.pod.Namespace).CreateToken(ctx, account, request, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for service account %s: %w", account, err)
	}
	return writeFile(dir, source.Path, []byte(token.Status.Token))
}

func (r *podRunner) writeConfigMap(ctx context.Context, dir, name string, items []corev1.KeyToPath, optional bool) error {
	cm, err := r.node.opts.Client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional {
			return nil
		}
		return err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeKeys(dir, data, items)
}

func (r *podRunner) writeSecret(ctx context.Context, dir, name string, items []corev1.KeyToPath, optional bool) error {
	secret, err := r.node.opts.Client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional {
			return nil
		}
		return err
	}
	return writeKeys(dir, secret.Data, items)
}

func (r *podRunner) writeDownwardAPI(dir string, items []corev1.DownwardAPIVolumeFile) error {
	for _, item := range items {
		if item.FieldRef == nil {
			continue
		}
		value, err := r.fieldValue(item.FieldRef.FieldPath)
		if err != nil {
			return err
		}
		if err := writeFile(dir, item.Path, []byte(value)); err != nil {
			return err
		}
	}
	return nil
}

func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := writeFile(dir, k, v); err != nil {
				return err
			}
		}
		return nil
	}
	for _, item := range items {
		if err := writeFile(dir, item.Path, data[item.Key]); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(dir, name string, data []byte) error {
	path := filepath.Join(dir, filepath.Clean("/"+name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
