// Package v1alpha1 contains the LongTask API, group longtask.dev, version v1alpha1.
// +kubebuilder:object:generate=true
// +groupName=longtask.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the LongTask API.
	GroupVersion = schema.GroupVersion{Group: "longtask.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API's types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers every kind of the API, as controller-runtime's deprecated scheme.Builder did,
// with apimachinery alone, so that importing the API brings in no controller-runtime.
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &LongTask{}, &LongTaskList{}, &LongTaskTemplate{}, &LongTaskTemplateList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
