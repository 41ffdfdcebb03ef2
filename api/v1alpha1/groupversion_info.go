// Package v1alpha1 contains the LongTask API, group longtask.dev, version v1alpha1.
// +kubebuilder:object:generate=true
// +groupName=longtask.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the LongTask API.
	GroupVersion = schema.GroupVersion{Group: "longtask.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API's types with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
