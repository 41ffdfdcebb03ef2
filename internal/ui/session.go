package ui

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// sessionKeySize is the size of the key that seals session cookies and signs CSRF tokens (AES-256).
const sessionKeySize = 32

// sessionKeyField is the Secret's field that holds the key.
const sessionKeyField = "key"

// SessionKey returns the key kept in the Secret namespace/name, and creates the Secret with a new random
// key when there is none. Every replica of the UI, and every restart, then seals and opens sign-in
// cookies with the same key: a viewer stays signed in, and a page that follows a task reconnects, when
// the UI restarts. Replicas starting at once agree: the first to create the Secret wins, and the others
// read its key.
func SessionKey(ctx context.Context, kube kubernetes.Interface, namespace, name string) ([]byte, error) {
	secrets := kube.CoreV1().Secrets(namespace)
	secret, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		key := make([]byte, sessionKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
				Labels: map[string]string{"app.kubernetes.io/part-of": "longtask", "app.kubernetes.io/component": "ui"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{sessionKeyField: key},
		}
		secret, err = secrets.Create(ctx, secret, metav1.CreateOptions{FieldManager: longtaskv1.UIFieldOwner})
		if apierrors.IsAlreadyExists(err) {
			secret, err = secrets.Get(ctx, name, metav1.GetOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session key from Secret %s/%s: %w", namespace, name, err)
	}
	key := secret.Data[sessionKeyField]
	if len(key) != sessionKeySize {
		//nolint:staticcheck // ST1005: "Secret" is the Kubernetes kind, written as kubectl writes it.
		return nil, fmt.Errorf("Secret %s/%s: data.%s must be %d bytes, it has %d; delete the Secret and the UI makes a new one",
			namespace, name, sessionKeyField, sessionKeySize, len(key))
	}
	return key, nil
}
