package worker

import (
	"encoding/json"
	"os"
	"sort"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/text"
)

// writeTerminationMessage tells the controller, through the pod's status, why the task failed. The
// kubelet creates the file before the container starts; outside a pod it does not exist and nothing is
// written. A file that cannot be written is an error; the controller then falls back on the log's last
// lines.
func writeTerminationMessage(path string, message longtaskv1.TerminationMessage) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return nil
	}
	_, err = f.Write(encodeTerminationMessage(message))
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// encodeTerminationMessage encodes message as JSON of at most MaxTerminationMessageBytes. The kubelet
// keeps no more than that, and a message it cuts is no longer JSON, so the controller would lose the
// reason. JSON escaping can make a byte of output six ('<', '>', '&') or two (quotes, newlines), so the
// output is cut to the most of its end, which holds the most recent lines, whose encoding fits; only if no
// output fits is the message cut too.
func encodeTerminationMessage(message longtaskv1.TerminationMessage) []byte {
	message.Output = text.Cut(message.Output, longtaskv1.MaxOutputBytes, text.End)
	if data := encodeJSONLine(message); len(data) <= longtaskv1.MaxTerminationMessageBytes {
		return data
	}
	output := message.Output
	message.Output = ""
	if len(encodeJSONLine(message)) > longtaskv1.MaxTerminationMessageBytes {
		message.Message = longestFitting(message.Message, text.Start, func(m string) longtaskv1.TerminationMessage {
			return longtaskv1.TerminationMessage{Reason: message.Reason, Message: m}
		})
		return encodeJSONLine(message)
	}
	message.Output = longestFitting(output, text.End, func(o string) longtaskv1.TerminationMessage {
		return longtaskv1.TerminationMessage{Reason: message.Reason, Message: message.Message, Output: o}
	})
	return encodeJSONLine(message)
}

// longestFitting cuts s to the longest text.Cut of it whose termination message, made by with, fits.
// The cut's length grows with its limit, so a binary search finds it.
func longestFitting(s string, keep text.Keep, with func(string) longtaskv1.TerminationMessage) string {
	tooLong := sort.Search(len(s)+1, func(n int) bool {
		return len(encodeJSONLine(with(text.Cut(s, n, keep)))) > longtaskv1.MaxTerminationMessageBytes
	})
	return text.Cut(s, tooLong-1, keep)
}

// encodeJSONLine encodes message as json.Encoder does, a line of JSON.
func encodeJSONLine(message longtaskv1.TerminationMessage) []byte {
	data, _ := json.Marshal(message) // three strings always encode
	return append(data, '\n')
}
