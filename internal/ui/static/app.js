// LongTask's pages are rendered on the server, and work without this script. With it, a task's page and
// the list follow the server live: the server pushes the same fragments it renders the pages with (or,
// when its event stream does not get through, the script fetches them every few seconds), and the script
// swaps them in. It never builds markup itself; the task's output is set as text.
"use strict";

(function () {
  // A session cookie unused for 15 minutes ends (sessionIdleLifetime), and a page that follows a task
  // over an event stream makes no other request: while a signed-in page is open, renew it every 5.
  if (document.getElementById("viewer")) {
    setInterval(() => fetch("/api/session", { cache: "no-store" }).catch(() => {}), 5 * 60 * 1000);
  }

  const page = document.body.dataset.page;
  if (page === "task") {
    const path = "/tasks/" + encodeURIComponent(document.body.dataset.namespace) + "/" + encodeURIComponent(document.body.dataset.name);
    follow(path + location.search, "panel", document.getElementById("panel"),
      (panel) => panel.querySelector("[data-finished]") !== null);
    followLog(path + "/log");
  } else if (page === "list") {
    follow(location.pathname + location.search, "rows", document.getElementById("rows"), () => false);
  }

  // follow keeps target's content the server's fragment PART: pushed as PART events by the page URL's
  // event stream, or, when events do not get through, fetched with ?part=PART every two seconds. It stops
  // once finished says the fragment will not change again.
  function follow(url, part, target, finished) {
    let pollTimer = null;
    const transport = document.getElementById("transport");
    const say = (text) => {
      if (transport) {
        transport.textContent = text;
      }
    };
    const swap = (html) => {
      target.innerHTML = html;
      return finished(target);
    };
    const poll = () => {
      if (pollTimer !== null) {
        return;
      }
      say("polling");
      const separator = url.includes("?") ? "&" : "?";
      const tick = async () => {
        try {
          const response = await fetch(url + separator + "part=" + part, { cache: "no-store" });
          if (response.status === 401) {
            // The sign-in ended (unused for 15 minutes, 8 hours after signing in, or the token was
            // revoked): asking again will not help.
            say("signed out: reload the page to sign in again");
            return;
          }
          if (response.ok && swap(await response.text())) {
            say("finished");
            return;
          }
        } catch (e) {
          // The server is unreachable for now: keep trying.
        }
        pollTimer = setTimeout(tick, 2000);
      };
      pollTimer = setTimeout(tick, 2000);
    };
    if (finished(target)) {
      say("finished");
      return;
    }
    if (new URLSearchParams(location.search).get("transport") === "poll" || !window.EventSource) {
      poll();
      return;
    }
    const source = new EventSource(url);
    let received = false;
    // The stream sends the fragment at once: a proxy that buffers it delivers nothing, so poll instead.
    const silence = setTimeout(() => {
      source.close();
      poll();
    }, 5000);
    source.addEventListener(part, (e) => {
      received = true;
      clearTimeout(silence);
      if (swap(e.data)) {
        source.close();
        say("finished");
      } else {
        say("live");
      }
    });
    source.addEventListener("gone", () => source.close());
    source.onerror = () => {
      // Refused (--push=false) or cut before it ever worked: poll. Once it has worked, EventSource
      // reconnects by itself.
      if (!received || source.readyState === EventSource.CLOSED) {
        clearTimeout(silence);
        source.close();
        poll();
      }
    };
  }

  // followLog replaces the output the page was rendered with by its live tail, line by line. Without a
  // stream (no EventSource, ?transport=poll, or the server refused it: --push=false, or too many streams
  // open) it fetches the last lines as text every few seconds instead, until the task finished.
  function followLog(url) {
    const log = document.getElementById("log");
    const state = document.getElementById("log-state");
    const maxLines = 1000;
    let lines = [];
    let started = false;
    const show = () => {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = lines.join("\n");
      if (atBottom) {
        log.scrollTop = log.scrollHeight;
      }
    };
    const poll = () => {
      state.textContent = "polling";
      const tick = async () => {
        // One more fetch after the panel says the task finished, for its last lines.
        const finished = document.querySelector("#panel [data-finished]") !== null;
        try {
          const response = await fetch(url, { cache: "no-store" });
          if (response.status === 401) {
            state.textContent = "signed out: reload the page to sign in again";
            return;
          }
          if (response.ok) {
            lines = (await response.text()).replace(/\n$/, "").split("\n");
            show();
          }
        } catch (e) {
          // The server is unreachable for now: keep trying.
        }
        if (finished) {
          state.textContent = "";
          return;
        }
        setTimeout(tick, 3000);
      };
      setTimeout(tick, 3000);
    };
    if (!window.EventSource || new URLSearchParams(location.search).get("transport") === "poll") {
      poll();
      return;
    }
    const source = new EventSource(url);
    const add = (newLines) => {
      if (!started) {
        started = true;
        lines = [];
      }
      lines.push(...newLines);
      if (lines.length > maxLines) {
        lines = lines.slice(lines.length - maxLines);
      }
      show();
    };
    state.textContent = "following";
    // A stream that reconnects starts again from the last lines. The server ends a stream whose viewer's
    // sign-in ended or was revoked: the reconnection then uses the cookie the page renewed meanwhile, or
    // is refused, and the page polls, which says so.
    source.onopen = () => {
      started = false;
    };
    source.addEventListener("lines", (e) => add(e.data.split("\n")));
    source.addEventListener("attempt", (e) => add(["── next attempt: " + e.data + " ──"]));
    source.addEventListener("end", (e) => {
      source.close();
      state.textContent = e.data;
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        poll();
      }
    };
  }
})();
