package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TemplateRef names a LongTaskTemplate in the task's namespace.
type TemplateRef struct {
	// name is the LongTaskTemplate's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ParameterValue is the value a task gives one of its template's parameters.
type ParameterValue struct {
	// name is the parameter's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// value replaces $(params.NAME) in the template.
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value"`
}

// Parameter is a value a person or a script fills in when starting a task from a template, used as
// $(params.NAME) in the template's command, args and env values.
//
// +kubebuilder:validation:XValidation:rule="!has(self.default) || !has(self.required) || !self.required",message="a required parameter has no default",fieldPath=".default"
// +kubebuilder:validation:XValidation:rule="!has(self.enum) || !has(self.default) || self.default in self.enum",message="default must be one of enum",fieldPath=".default"
type Parameter struct {
	// name is how the template refers to the parameter: $(params.NAME).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_-]*$`
	Name string `json:"name"`

	// description tells the person filling in the form what the parameter is for.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// default is the value when none is given.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Default *string `json:"default,omitempty"`

	// enum lists the only values allowed; the form offers them as a choice.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Enum []string `json:"enum,omitempty"`

	// pattern is a regular expression (RE2) that a value must match in full.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Pattern string `json:"pattern,omitempty"`

	// required parameters must be given a value, even an empty one.
	// +optional
	Required bool `json:"required,omitempty"`
}

// LongTaskTemplateSpec is a task that people and scripts start with their own parameter values.
type LongTaskTemplateSpec struct {
	// description says what the task does, for the list of templates.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// parameters are the values a task started from the template fills in.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Parameters []Parameter `json:"parameters,omitempty"`

	// task is what a task started from the template runs, as in a LongTask's spec. $(params.NAME) in its
	// command, args and env values (and those of a podTemplate's task container) is replaced by the
	// parameter's value. A parameter's value is never read by a shell unless the template passes it to
	// one: give it to a script in env, not in the script's text.
	// +kubebuilder:validation:XValidation:rule="has(self.command) || has(self.podTemplate)",message="command is required (or give a podTemplate with a container named task)",fieldPath=".command"
	// +kubebuilder:validation:XValidation:rule="!has(self.podTemplate) || !(has(self.image) || has(self.command) || has(self.args) || has(self.env) || has(self.resources))",message="podTemplate cannot be mixed with image, command, args, env or resources: put them in the podTemplate's task container",fieldPath=".podTemplate"
	Task TaskSpec `json:"task"`
}

// LongTaskTemplate is a task written once, by an admin, that others start with their own parameter
// values: from the UI's form, or with a LongTask whose spec.templateRef names it.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ltt,categories=all
// +kubebuilder:printcolumn:name="Description",type=string,JSONPath=`.spec.description`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LongTaskTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec LongTaskTemplateSpec `json:"spec"`
}

// LongTaskTemplateList is a list of LongTaskTemplates.
// +kubebuilder:object:root=true
type LongTaskTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LongTaskTemplate `json:"items"`
}
