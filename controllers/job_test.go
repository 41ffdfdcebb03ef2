package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

var testOptions = JobOptions{WorkerImage: "longtask-worker:test"}

func workerVolume() corev1.Volume {
	return corev1.Volume{Name: workerVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func installContainer() corev1.Container {
	return corev1.Container{
		Name:                     longtaskv1.InstallContainerName,
		Image:                    "longtask-worker:test",
		Command:                  []string{"longtask-worker", "install", "/longtask/bin"},
		VolumeMounts:             []corev1.VolumeMount{{Name: workerVolumeName, MountPath: "/longtask"}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

func TestConstructJob(t *testing.T) {
	workerMount := corev1.VolumeMount{Name: workerVolumeName, MountPath: "/longtask"}
	workerEnv := func(interval, grace string) []corev1.EnvVar {
		return []corev1.EnvVar{
			{Name: "LONGTASK_NAME", Value: "resize"},
			{Name: "LONGTASK_NAMESPACE", Value: "photos"},
			{Name: "LONGTASK_PROGRESS_INTERVAL", Value: interval},
			{Name: "LONGTASK_GRACE_PERIOD", Value: grace},
			{Name: "LONGTASK_PROGRESS_FILE", Value: "/longtask/progress"},
			{Name: "LONGTASK_RESULT_FILE", Value: "/longtask/result"},
		}
	}
	baseEnv := workerEnv("1s", "30")
	cases := map[string]struct {
		task *longtaskv1.LongTask
		want batchv1.JobSpec
		// wantLabels are the Job's labels.
		wantLabels map[string]string
	}{
		"command with defaults runs in the worker image": {
			task:       testutil.MakeLongTask("resize", "photos").Command("resize", "--all").Args("cat.jpg").Obj(),
			wantLabels: map[string]string{longtaskv1.LabelTaskName: "resize"},
			want: batchv1.JobSpec{
				Parallelism:  ptr.To[int32](1),
				Completions:  ptr.To[int32](1),
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{longtaskv1.LabelTaskName: "resize"}},
					Spec: corev1.PodSpec{
						RestartPolicy:                corev1.RestartPolicyNever,
						ServiceAccountName:           "longtask-worker-resize",
						AutomountServiceAccountToken: ptr.To(true),
						Volumes:                      []corev1.Volume{workerVolume()},
						InitContainers:               []corev1.Container{installContainer()},
						Containers: []corev1.Container{{
							Name:                     "task",
							Image:                    "longtask-worker:test",
							Command:                  []string{"/longtask/bin/longtask-worker", "run", "--", "resize", "--all"},
							Args:                     []string{"cat.jpg"},
							Env:                      baseEnv,
							VolumeMounts:             []corev1.VolumeMount{workerMount},
							TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						}},
					},
				},
			},
		},
		"image, env, total, retries, timeout and queue label map to the Job": {
			task: testutil.MakeLongTask("resize", "photos").Image("resizer:v2").Command("resize").
				Env("SIZE", "64").Total(25).Retries(3).Timeout(600).ProgressInterval(5*time.Second).
				Label(longtaskv1.LabelQueueName, "batch").Obj(),
			wantLabels: map[string]string{longtaskv1.LabelTaskName: "resize", longtaskv1.LabelQueueName: "batch"},
			want: batchv1.JobSpec{
				Parallelism:           ptr.To[int32](1),
				Completions:           ptr.To[int32](1),
				BackoffLimit:          ptr.To[int32](3),
				ActiveDeadlineSeconds: ptr.To[int64](600),
				Suspend:               ptr.To(true),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{longtaskv1.LabelTaskName: "resize"}},
					Spec: corev1.PodSpec{
						RestartPolicy:                corev1.RestartPolicyNever,
						ServiceAccountName:           "longtask-worker-resize",
						AutomountServiceAccountToken: ptr.To(true),
						Volumes:                      []corev1.Volume{workerVolume()},
						InitContainers:               []corev1.Container{installContainer()},
						Containers: []corev1.Container{{
							Name:    "task",
							Image:   "resizer:v2",
							Command: []string{"/longtask/bin/longtask-worker", "run", "--", "resize"},
							Env: append(append([]corev1.EnvVar{{Name: "SIZE", Value: "64"}}, workerEnv("5s", "30")...),
								corev1.EnvVar{Name: "LONGTASK_TOTAL", Value: "25"}),
							VolumeMounts:             []corev1.VolumeMount{workerMount},
							TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						}},
					},
				},
			},
		},
		"pod template keeps the user's pod and wraps only the task container": {
			task: testutil.MakeLongTask("resize", "photos").PodTemplate(corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "photos"}},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyOnFailure,
					ServiceAccountName:            "photo-reader",
					AutomountServiceAccountToken:  ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To[int64](60),
					NodeSelector:                  map[string]string{"disk": "ssd"},
					Volumes:                       []corev1.Volume{{Name: "data"}},
					Containers: []corev1.Container{
						{Name: "sidecar", Image: "proxy", Command: []string{"proxy"}},
						{Name: "task", Image: "resizer", Command: []string{"resize"}, Args: []string{"-v"},
							VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
					},
				},
			}).Obj(),
			wantLabels: map[string]string{longtaskv1.LabelTaskName: "resize"},
			want: batchv1.JobSpec{
				Parallelism:  ptr.To[int32](1),
				Completions:  ptr.To[int32](1),
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "photos", longtaskv1.LabelTaskName: "resize"}},
					Spec: corev1.PodSpec{
						RestartPolicy:                 corev1.RestartPolicyNever,
						ServiceAccountName:            "photo-reader",
						AutomountServiceAccountToken:  ptr.To(true),
						TerminationGracePeriodSeconds: ptr.To[int64](60),
						NodeSelector:                  map[string]string{"disk": "ssd"},
						Volumes:                       []corev1.Volume{{Name: "data"}, workerVolume()},
						InitContainers:                []corev1.Container{installContainer()},
						Containers: []corev1.Container{
							{Name: "sidecar", Image: "proxy", Command: []string{"proxy"}},
							{
								Name:                     "task",
								Image:                    "resizer",
								Command:                  []string{"/longtask/bin/longtask-worker", "run", "--", "resize"},
								Args:                     []string{"-v"},
								Env:                      workerEnv("1s", "60"),
								VolumeMounts:             []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, workerMount},
								TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
							},
						},
					},
				},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			job := constructJob(tc.task, testOptions)
			if job.Name != tc.task.Name || job.Namespace != tc.task.Namespace {
				t.Errorf("Job is %s/%s, want %s/%s", job.Namespace, job.Name, tc.task.Namespace, tc.task.Name)
			}
			if diff := cmp.Diff(tc.wantLabels, job.Labels); diff != "" {
				t.Errorf("Job labels (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, job.Spec); diff != "" {
				t.Errorf("Job spec (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestConstructJobLeavesTheTaskUnchanged(t *testing.T) {
	tasks := map[string]*longtaskv1.LongTask{
		"command": testutil.MakeLongTask("resize", "photos").Command("resize").Env("A", "1").Obj(),
		"pod template": testutil.MakeLongTask("resize", "photos").PodTemplate(corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "task", Command: []string{"resize"}}}},
		}).Obj(),
	}
	for name, task := range tasks {
		t.Run(name, func(t *testing.T) {
			before := task.DeepCopy()
			constructJob(task, testOptions)
			if diff := cmp.Diff(before, task); diff != "" {
				t.Errorf("constructJob changed the LongTask (-before,+after):\n%s", diff)
			}
		})
	}
}
