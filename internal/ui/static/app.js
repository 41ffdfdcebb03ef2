// LongTask's pages: the task list refreshes itself, and a task's page follows the task live, pushed by
// server-sent events, falling back to polling when events do not get through. Everything a task reports
// is set as text, never as HTML.
"use strict";

(function () {
  const page = document.body.dataset.page;
  if (page === "task") {
    followTask(document.body.dataset.namespace, document.body.dataset.name);
  } else if (page === "list") {
    refreshList();
  }

  function followTask(namespace, name) {
    const api = "/api/tasks/" + encodeURIComponent(namespace) + "/" + encodeURIComponent(name);
    let pollTimer = null;
    let source = null;

    function poll() {
      if (source) {
        source.close();
        source = null;
      }
      if (pollTimer !== null) {
        return;
      }
      setText("transport", "polling");
      const tick = async () => {
        pollTimer = null;
        try {
          const response = await fetch(api, { cache: "no-store" });
          if (response.status === 404) {
            setText("transport", "the task was deleted");
            return;
          }
          if (response.ok) {
            const task = await response.json();
            render(task);
            if (task.finished) {
              setText("transport", "finished");
              return;
            }
          }
        } catch (e) {
          // The server is unreachable for now: keep trying.
        }
        pollTimer = setTimeout(tick, 1000);
      };
      tick();
    }

    const forcePoll = new URLSearchParams(location.search).get("transport") === "poll";
    if (forcePoll || !window.EventSource) {
      poll();
      return;
    }
    source = new EventSource(api + "/events");
    setText("transport", "connecting");
    // A proxy that buffers the stream delivers nothing: poll instead.
    const silence = setTimeout(poll, 5000);
    source.addEventListener("task", (event) => {
      clearTimeout(silence);
      const task = JSON.parse(event.data);
      render(task);
      setText("transport", task.finished ? "finished" : "live");
      if (task.finished && source) {
        source.close();
      }
    });
    source.addEventListener("gone", () => {
      source.close();
      setText("transport", "the task was deleted");
    });
    source.onerror = () => {
      // CLOSED means the browser gave up (the server refused the stream); otherwise it reconnects.
      if (source && source.readyState === EventSource.CLOSED) {
        clearTimeout(silence);
        poll();
      }
    };
  }

  function render(task) {
    const bar = document.getElementById("bar");
    if (task.indeterminate) {
      bar.removeAttribute("value");
    } else {
      bar.value = task.finished && task.phase === "Succeeded" ? 100 : task.percent;
    }
    const phase = document.getElementById("phase");
    phase.textContent = task.phase;
    phase.className = "phase phase-" + task.phase;
    setText("summary", task.summary);
    setText("message", task.message);
    setText("rate", task.rate || "–");
    setText("remaining", task.remaining || "–");
    setText("attempts", String(task.attempts));

    const cancel = document.getElementById("cancel-form");
    if (cancel) {
      cancel.hidden = task.finished || task.cancelRequested;
    }
    document.getElementById("result-section").hidden = !(task.finished && task.result);
    setText("result", task.result);
    const failure = task.failure;
    document.getElementById("failure-section").hidden = !failure;
    if (failure) {
      setText("failure-reason", failure.reason);
      setText("failure-message", failure.message);
      setText("failure-exit", task.exitNote || "");
      setText("failure-output", failure.output || "");
    }
  }

  // refreshList keeps the rendered page of the list current: pushed by the list's event stream, or, when
  // events do not get through, fetched every 2 seconds. Either way it is the page the server rendered,
  // with the same filters.
  function refreshList() {
    const tbody = document.querySelector("#tasks tbody");
    const show = (tasks) => {
      tbody.replaceChildren(...tasks.map(row));
      if (tasks.length === 0) {
        const filtered = new URLSearchParams(location.search);
        filtered.delete("page");
        const tr = document.createElement("tr");
        tr.className = "empty";
        const td = cell(tr, filtered.size > 0 ? "No task matches." : "No tasks yet. Start one with kubectl apply -f task.yaml.");
        td.colSpan = 6;
        tbody.replaceChildren(tr);
      }
    };
    const poll = () => {
      const tick = async () => {
        try {
          const response = await fetch("/api/tasks" + location.search, { cache: "no-store" });
          if (response.ok) {
            show(await response.json());
          }
        } catch (e) {
          // Try again at the next tick.
        }
        setTimeout(tick, 2000);
      };
      setTimeout(tick, 2000);
    };
    if (!window.EventSource) {
      poll();
      return;
    }
    const source = new EventSource("/api/tasks/events" + location.search);
    let received = false;
    const fallBack = () => {
      source.close();
      poll();
    };
    // The stream sends the page at once: a proxy that buffers it delivers nothing, so poll instead.
    const silence = setTimeout(fallBack, 5000);
    source.addEventListener("list", (event) => {
      received = true;
      clearTimeout(silence);
      show(JSON.parse(event.data).tasks);
    });
    source.onerror = () => {
      // Refused (--push=false) or cut before it ever worked: poll. Once it has worked, EventSource
      // reconnects by itself.
      if (!received) {
        clearTimeout(silence);
        fallBack();
      }
    };
  }

  function row(task) {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = "/tasks/" + encodeURIComponent(task.namespace) + "/" + encodeURIComponent(task.name);
    link.textContent = task.name;
    cell(tr, "").append(link);
    cell(tr, task.namespace);
    const phase = document.createElement("span");
    phase.className = "phase phase-" + task.phase;
    phase.textContent = task.phase;
    cell(tr, "").append(phase);
    const progress = document.createElement("progress");
    progress.max = 100;
    if (!task.indeterminate) {
      progress.value = task.percent;
    }
    const summary = document.createElement("span");
    summary.className = "summary";
    summary.textContent = task.summary;
    cell(tr, "").append(progress, " ", summary);
    cell(tr, task.message).className = "message";
    cell(tr, task.age);
    return tr;
  }

  function cell(tr, text) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
    return td;
  }

  function setText(id, text) {
    const element = document.getElementById(id);
    if (element) {
      element.textContent = text;
    }
  }
})();
