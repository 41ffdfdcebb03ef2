package testing

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/chromedp/chromedp"
)

// StartBrowser starts a headless Chromium, Debian's, with a profile of its own, and returns its context:
// each chromedp.NewContext of it is a new tab. It has no timeout: a timeout on the first run would stop
// the whole browser.
func StartBrowser() (context.Context, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return nil, fmt.Errorf("the browser tests need Chromium (make test installs it: apt-get install -y chromium): %w", err)
	}
	dir, err := os.MkdirTemp("", "longtask-chromium-")
	if err != nil {
		return nil, err
	}
	allocator, _ := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.UserDataDir(dir),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	browser, _ := chromedp.NewContext(allocator)
	if err := chromedp.Do(browser); err != nil {
		return nil, fmt.Errorf("starting Chromium: %w", err)
	}
	return browser, nil
}

// NavigatedAway reports whether err says the page a JavaScript poll ran in navigated away (a form's post
// and its redirect): the poll is worth starting again in the next page.
func NavigatedAway(err error) bool {
	for _, s := range []string{"Cannot find context with specified id", "Execution context was destroyed", "Inspected target navigated or closed"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}
