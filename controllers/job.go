package controllers

import (
	"path"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// JobOptions are the manager-wide settings that shape every task's Job.
type JobOptions struct {
	// WorkerImage holds the longtask-worker binary; it runs tasks that name no image of their own.
	WorkerImage string
}

const workerVolumeName = "longtask-worker"

// jobName is the name of a LongTask's Job. It is the task's own name, so it can be found without a lookup
// and a second Job can never be created for the same task.
func jobName(task *longtaskv1.LongTask) string {
	return task.Name
}

// constructJob builds the Job that runs a LongTask. The task container runs the worker, which runs the
// user's program; an init container copies the worker binary out of the worker image into an emptyDir,
// so any image can run a task. The caller sets the owner reference.
func constructJob(task *longtaskv1.LongTask, opts JobOptions) *batchv1.Job {
	labels := map[string]string{longtaskv1.LabelTaskName: task.Name}
	if queue, ok := task.Labels[longtaskv1.LabelQueueName]; ok {
		labels[longtaskv1.LabelQueueName] = queue
	}

	template := podTemplate(task, opts)
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[longtaskv1.LabelTaskName] = task.Name

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      jobName(task),
			Namespace: task.Namespace,
			Labels:    labels,
		},
		Spec: batchv1.JobSpec{
			Parallelism:           ptr.To[int32](1),
			Completions:           ptr.To[int32](1),
			BackoffLimit:          ptr.To(task.Spec.Retries),
			ActiveDeadlineSeconds: task.Spec.TimeoutSeconds,
			Template:              template,
		},
	}
	// Kueue admits a queued Job by unsuspending it, so such a Job must start suspended.
	if _, queued := labels[longtaskv1.LabelQueueName]; queued {
		job.Spec.Suspend = ptr.To(true)
	}
	return job
}

// podTemplate returns the task's pod: the user's podTemplate, or one built from image, command, args, env
// and resources, with the worker wrapped around the task container's program.
func podTemplate(task *longtaskv1.LongTask, opts JobOptions) corev1.PodTemplateSpec {
	// A copy, so that wrapping the task container never writes into the LongTask's own slices.
	spec := task.Spec.DeepCopy()
	var template corev1.PodTemplateSpec
	if spec.PodTemplate != nil {
		template = *spec.PodTemplate
	} else {
		image := spec.Image
		if image == "" {
			image = opts.WorkerImage
		}
		container := corev1.Container{
			Name:    longtaskv1.TaskContainerName,
			Image:   image,
			Command: spec.Command,
			Args:    spec.Args,
			Env:     spec.Env,
		}
		if spec.Resources != nil {
			container.Resources = *spec.Resources
		}
		template.Spec.Containers = []corev1.Container{container}
	}
	// Each attempt is a new pod, so the Job counts attempts and the worker's exit code is the attempt's.
	template.Spec.RestartPolicy = corev1.RestartPolicyNever
	// The worker reports with the pod's token, which its per-task Role limits to this task.
	if template.Spec.ServiceAccountName == "" {
		template.Spec.ServiceAccountName = workerServiceAccountName(task)
	}
	template.Spec.AutomountServiceAccountToken = ptr.To(true)
	gracePeriod := ptr.Deref(template.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)

	template.Spec.Volumes = append(template.Spec.Volumes, corev1.Volume{
		Name:         workerVolumeName,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
	})
	mount := corev1.VolumeMount{Name: workerVolumeName, MountPath: longtaskv1.WorkerMountPath}
	template.Spec.InitContainers = append([]corev1.Container{{
		Name:                     longtaskv1.InstallContainerName,
		Image:                    opts.WorkerImage,
		Command:                  []string{longtaskv1.WorkerBinary, "install", longtaskv1.WorkerDir},
		VolumeMounts:             []corev1.VolumeMount{mount},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		// It only copies a file, so it asks for nothing: a namespace that enforces the restricted Pod
		// Security Standard admits it.
		SecurityContext: restrictedSecurityContext(),
	}}, template.Spec.InitContainers...)

	for i := range template.Spec.Containers {
		c := &template.Spec.Containers[i]
		if c.Name != longtaskv1.TaskContainerName {
			continue
		}
		c.Command = append([]string{path.Join(longtaskv1.WorkerDir, longtaskv1.WorkerBinary), "run", "--"}, c.Command...)
		c.Env = append(c.Env, workerEnv(task, gracePeriod)...)
		c.VolumeMounts = append(c.VolumeMounts, mount)
		// The worker writes why the task failed to the termination log; the last lines of output stand in
		// if the worker itself could not.
		c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	}
	return template
}

func restrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// workerEnv tells the worker which LongTask it reports to and how.
func workerEnv(task *longtaskv1.LongTask, gracePeriodSeconds int64) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: longtaskv1.EnvTaskName, Value: task.Name},
		{Name: longtaskv1.EnvTaskNamespace, Value: task.Namespace},
		{Name: longtaskv1.EnvProgressInterval, Value: task.Spec.Interval().String()},
		{Name: longtaskv1.EnvGracePeriod, Value: strconv.FormatInt(gracePeriodSeconds, 10)},
		{Name: longtaskv1.EnvProgressFile, Value: longtaskv1.ProgressFilePath},
		{Name: longtaskv1.EnvResultFile, Value: longtaskv1.ResultFilePath},
	}
	if task.Spec.Total != nil {
		env = append(env, corev1.EnvVar{Name: longtaskv1.EnvTotal, Value: strconv.FormatInt(*task.Spec.Total, 10)})
	}
	return env
}
