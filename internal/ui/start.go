package ui

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
	"github.com/longtask-dev/longtask/internal/tasktemplate"
)

// paramField is the form field of a parameter: "param.NAME".
const paramField = "param."

func templatesOf(verb, namespace string) resource {
	return resource{verb: verb, group: longtaskv1.GroupVersion.Group, resource: "longtasktemplates", namespace: namespace}
}

// templateListView is the list of templates a viewer may start tasks from.
type templateListView struct {
	Templates []templateSummary
}

type templateSummary struct {
	Namespace, Name, Description string
}

// templatesPage lists the templates in the namespaces whose templates the viewer may list.
func (s *Server) templatesPage(w http.ResponseWriter, r *http.Request, v viewer) {
	templates := &longtaskv1.LongTaskTemplateList{}
	var opts []client.ListOption
	if s.opts.Namespace != "" {
		opts = append(opts, client.InNamespace(s.opts.Namespace))
	}
	if err := s.opts.Reader.List(r.Context(), templates, opts...); err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	all, err := s.auth.may(r.Context(), v, templatesOf("list", s.opts.Namespace))
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	view := templateListView{}
	for _, t := range templates.Items {
		if !all {
			if may, err := s.auth.may(r.Context(), v, templatesOf("list", t.Namespace)); err != nil || !may {
				continue
			}
		}
		view.Templates = append(view.Templates, templateSummary{Namespace: t.Namespace, Name: t.Name, Description: t.Spec.Description})
	}
	slices.SortFunc(view.Templates, func(a, b templateSummary) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	s.render(w, http.StatusOK, "templates.html", s.newPage(w, r, v, "Start a task", view))
}

// templateForm is a template's form: a field for each parameter, with what was typed and what was wrong.
type templateForm struct {
	Namespace, Name, Description string
	Fields                       []formField
	// Error says why the task was not started, when it was not for a parameter's sake.
	Error string
}

type formField struct {
	Name, Description, Value, Pattern, Error string
	Enum                                     []string
	Required                                 bool
}

func newTemplateForm(t *longtaskv1.LongTaskTemplate, values map[string]string) templateForm {
	form := templateForm{Namespace: t.Namespace, Name: t.Name, Description: t.Spec.Description}
	for _, p := range t.Spec.Parameters {
		f := formField{Name: p.Name, Description: p.Description, Pattern: p.Pattern, Enum: p.Enum, Required: p.Required}
		if value, ok := values[p.Name]; ok {
			f.Value = value
		} else if p.Default != nil {
			f.Value = *p.Default
		}
		form.Fields = append(form.Fields, f)
	}
	return form
}

// getTemplate reads the template a request names, if the viewer may see it.
func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request, v viewer) (*longtaskv1.LongTaskTemplate, bool) {
	key, ok := s.key(w, r)
	if !ok || !s.allow(w, r, v, templatesOf("get", key.Namespace)) {
		return nil, false
	}
	t := &longtaskv1.LongTaskTemplate{}
	if err := s.opts.Reader.Get(r.Context(), key, t); err != nil {
		http.Error(w, fmt.Sprintf("LongTaskTemplate %s: %v", key, err), statusOf(err))
		return nil, false
	}
	return t, true
}

func (s *Server) templatePage(w http.ResponseWriter, r *http.Request, v viewer) {
	if t, ok := s.getTemplate(w, r, v); ok {
		s.render(w, http.StatusOK, "template.html", s.newPage(w, r, v, t.Name, newTemplateForm(t, nil)))
	}
}

// start creates a task from the template with the form's values, as the viewer, and shows its progress.
// Values the template refuses send the form back with what was typed and each refusal by its parameter.
func (s *Server) start(w http.ResponseWriter, r *http.Request, v viewer) {
	if s.opts.ReadOnly {
		http.Error(w, "this UI is read-only", http.StatusForbidden)
		return
	}
	t, ok := s.getTemplate(w, r, v)
	if !ok {
		return
	}
	values := map[string]string{}
	var given []longtaskv1.ParameterValue
	for _, p := range t.Spec.Parameters {
		if r.PostForm.Has(paramField + p.Name) {
			values[p.Name] = r.PostForm.Get(paramField + p.Name)
			given = append(given, longtaskv1.ParameterValue{Name: p.Name, Value: values[p.Name]})
		}
	}
	form := newTemplateForm(t, values)
	refuse := func(status int) {
		s.render(w, status, "template.html", s.newPage(w, r, v, t.Name, form))
	}
	task := tasks.FromTemplate(t, given)
	if _, err := tasktemplate.Resolve(&t.Spec, &task.Spec); err != nil {
		form.explain(err)
		refuse(http.StatusUnprocessableEntity)
		return
	}
	c, _, err := s.actAs(v)
	if err == nil {
		err = c.Create(r.Context(), task, client.FieldOwner(longtaskv1.UIFieldOwner))
	}
	if err != nil {
		form.explain(err)
		refuse(statusOf(err))
		return
	}
	http.Redirect(w, r, taskPath(task.Namespace, task.Name), http.StatusSeeOther)
}

// explain puts each error under the parameter it names, and the others above the form.
func (f *templateForm) explain(err error) {
	messages := []string{err.Error()}
	var status apierrors.APIStatus
	var aggregate utilerrors.Aggregate
	switch {
	case errors.As(err, &status):
		messages = []string{status.Status().Message}
	case errors.As(err, &aggregate):
		messages = messages[:0]
		for _, e := range utilerrors.Flatten(aggregate).Errors() {
			messages = append(messages, e.Error())
		}
	}
	var others []string
	for _, message := range messages {
		i := slices.IndexFunc(f.Fields, func(field formField) bool {
			return strings.Contains(message, "spec.parameters["+field.Name+"]")
		})
		if i < 0 {
			others = append(others, message)
			continue
		}
		f.Fields[i].Error = message
	}
	f.Error = strings.Join(others, "; ")
}
