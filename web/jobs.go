package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node/jobs"
	"github.com/offgrid-net/offgrid/problem"
)

const (
	// maxJobFileBytes bounds each of the form's two files as it is read;
	// the node checks its own (possibly lower) module and input limits.
	maxJobFileBytes = 16 << 20
	// maxJobFormBytes is the whole multipart body: two files and the small
	// fields with their multipart framing.
	maxJobFormBytes = 2*maxJobFileBytes + maxFormBytes
	// jobListLimit is how many jobs the page lists, newest first.
	jobListLimit = 50
	// jobPollSeconds is how often the list and a job's detail reload
	// themselves while a job is unfinished; they stop once all are.
	jobPollSeconds = 2
	// jobSubmitTimeout bounds a submit, which compiles the module to check
	// it: a large module on a busy small machine takes longer than the
	// other node calls' nodeCallTimeout.
	jobSubmitTimeout = time.Minute
)

// jobForm is the submit form's state: the fields as typed, why nothing
// was submitted, or the job just submitted.
type jobForm struct {
	R, MaxPrice, Timeout string
	Summary              string
	Submitted            *broker.Job
}

// jobsView is the jobs list.
type jobsView struct {
	Jobs []broker.Job
	Err  string
}

// jobsPage serves the jobs page: the submit form and the list.
func (h *Handler) jobsPage(w http.ResponseWriter, r *http.Request) {
	h.renderPage(w, r, http.StatusOK, "Jobs", navJobs, jobsBody(defaultJobForm(), h.jobsViewFor(r.Context())))
}

// jobsPart serves the list alone (its polling).
func (h *Handler) jobsPart(w http.ResponseWriter, r *http.Request) {
	h.renderPart(w, r, http.StatusOK, "Jobs", jobsCard(h.jobsViewFor(r.Context()), false))
}

func defaultJobForm() jobForm { return jobForm{R: "1"} }

// jobsViewFor reads the newest jobs under the node call timeout.
func (h *Handler) jobsViewFor(ctx context.Context) jobsView {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	js, err := h.node.Jobs(ctx, jobListLimit)
	if err != nil {
		h.log.Warn("List jobs for dashboard", "err", err)
		return jobsView{Err: "The jobs could not be read."}
	}
	return jobsView{Jobs: js}
}

// submitJob reads the multipart form (module, input, r, max price,
// timeout) and brokers the job. A bad field or a refusal brings the form
// back with 422 and nothing submitted.
func (h *Handler) submitJob(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxJobFormBytes)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, "bad form", status)
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	f := jobForm{R: strings.TrimSpace(r.PostFormValue("r")), MaxPrice: strings.TrimSpace(r.PostFormValue("max_price")),
		Timeout: strings.TrimSpace(r.PostFormValue("timeout"))}
	req, summary := parseJobForm(r.MultipartForm, f)
	f.Summary = summary
	if f.Summary == "" {
		ctx, cancel := context.WithTimeout(r.Context(), jobSubmitTimeout)
		j, err := h.node.SubmitJob(ctx, req)
		cancel()
		if err != nil {
			c := problem.Classify(err)
			f.Summary = "The job was not submitted."
			if c.Public {
				f.Summary = "The job was not submitted: " + sentence(c.Reason)
			} else {
				h.log.Warn("Submit job from dashboard", "err", err)
			}
		} else {
			f = defaultJobForm()
			f.Submitted = &j
		}
	}
	status := http.StatusOK
	if f.Summary != "" {
		status = http.StatusUnprocessableEntity
	}
	if !isHTMX(r) {
		if f.Submitted != nil {
			http.Redirect(w, r, jobURL(f.Submitted.ID), http.StatusSeeOther)
			return
		}
		h.renderPage(w, r, status, "Jobs", navJobs, jobsBody(f, h.jobsViewFor(r.Context())))
		return
	}
	h.render(w, r, status, jobSubmitResult(f, h.jobsViewFor(r.Context())))
}

// parseJobForm checks the form's fields and reads its two files; a
// non-empty summary says what is wrong.
func parseJobForm(mf *multipart.Form, f jobForm) (jobs.SubmitRequest, string) {
	var req jobs.SubmitRequest
	rv, err := strconv.Atoi(f.R)
	if err != nil || rv < 1 || rv > jobs.MaxR {
		return req, fmt.Sprintf("r must be a whole number from 1 to %d.", jobs.MaxR)
	}
	req.R = rv
	if f.MaxPrice != "" {
		p, err := fixed.Parse(f.MaxPrice)
		if err != nil || p < 0 {
			return req, "The max price must be a number of credits with at most six decimals, such as 0.5, or empty for any."
		}
		req.MaxPrice = p
	}
	if f.Timeout != "" {
		s, err := strconv.Atoi(f.Timeout)
		if err != nil || s < 1 || s > 24*3600 {
			return req, "The timeout must be a whole number of seconds from 1, or empty for the node's limit."
		}
		req.Timeout = time.Duration(s) * time.Second
	}
	if req.Module, err = formFile(mf, "module"); err != nil {
		return req, "Choose or drop a WebAssembly module (.wasm): " + err.Error() + "."
	}
	if req.Input, err = formFile(mf, "input"); err != nil {
		return req, "The input file could not be read: " + err.Error() + "."
	}
	return req, ""
}

// formFile reads the form's file named field; a missing input file is
// an empty input, a missing module an error.
func formFile(mf *multipart.Form, field string) ([]byte, error) {
	fhs := mf.File[field]
	if len(fhs) == 0 || fhs[0].Size == 0 {
		if field == "input" {
			return nil, nil
		}
		return nil, errors.New("none was given")
	}
	if fhs[0].Size > maxJobFileBytes {
		return nil, fmt.Errorf("%s is over %s", fhs[0].Filename, humanBytes(maxJobFileBytes))
	}
	fh, err := fhs[0].Open()
	if err != nil {
		return nil, fmt.Errorf("open %s", fhs[0].Filename)
	}
	defer func() { _ = fh.Close() }()
	b, err := io.ReadAll(io.LimitReader(fh, maxJobFileBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s", fhs[0].Filename)
	}
	return b, nil
}

// jobPage serves one job's detail: candidates with their scores and why,
// dispatches and their outcomes, the accepted output's hash.
func (h *Handler) jobPage(w http.ResponseWriter, r *http.Request) {
	j, status, msg := h.jobFor(r)
	if status != http.StatusOK {
		h.renderPage(w, r, status, "Job", navJobs, jobMissing(msg))
		return
	}
	h.renderPage(w, r, http.StatusOK, "Job "+j.ID, navJobs, jobDetail(j))
}

// jobPart serves a job's detail card (its polling).
func (h *Handler) jobPart(w http.ResponseWriter, r *http.Request) {
	j, status, msg := h.jobFor(r)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	h.renderPart(w, r, http.StatusOK, "Job", jobDetailCard(j))
}

// jobFor reads the job named in the path; a status other than 200 comes
// with the message to show.
func (h *Handler) jobFor(r *http.Request) (broker.Job, int, string) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	j, err := h.node.Job(ctx, chi.URLParam(r, "id"))
	if err != nil {
		c := problem.Classify(err)
		if !c.Public {
			h.log.Warn("Read job for dashboard", "err", err)
			return j, c.Status, "The job could not be read."
		}
		return j, c.Status, "The job could not be read: " + sentence(c.Reason)
	}
	return j, http.StatusOK, ""
}

// jobOutput sends a done job's verified output as a download.
func (h *Handler) jobOutput(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	b, err := h.node.JobOutput(ctx, id)
	if err != nil {
		c := problem.Classify(err)
		msg := "The output could not be read."
		if c.Public {
			msg = "The output could not be read: " + sentence(c.Reason)
		} else {
			h.log.Warn("Read job output for dashboard", "err", err)
		}
		http.Error(w, msg, c.Status)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// The ID is checked by the node (j- and hex), so it is safe in the
	// header as it is.
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.out"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// jobURL is a job's detail page (under /compute: /jobs is the API's).
func jobURL(id string) string { return "/compute/" + id }

// jobFinished reports whether a job's state is final.
func jobFinished(j broker.Job) bool {
	return j.State == broker.StateDone || j.State == broker.StateFailed
}

// anyUnfinished reports whether the list must keep polling.
func anyUnfinished(js []broker.Job) bool {
	for _, j := range js {
		if !jobFinished(j) {
			return true
		}
	}
	return false
}

// jobPollTrigger is the hx-trigger of a card that reloads itself.
func jobPollTrigger() string { return "every " + strconv.Itoa(jobPollSeconds) + "s" }

// jobTimeLabel is a job's creation time, UTC to the second.
func jobTimeLabel(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// scoreLabel shows a candidate's score to three decimals.
func scoreLabel(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// jobsMaxR is the form's upper bound for r (the node's).
const jobsMaxR = jobs.MaxR
