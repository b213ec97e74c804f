;;; emacs_driver.el --- batch end-to-end check of eglot + clients/emacs/dbos-lsp.el  -*- lexical-binding: t -*-

;; Usage (see test_emacs.py):
;;   emacs --batch -l tests/clients/emacs_driver.el /path/to/proj/app.py
;; Environment:
;;   DBOS_EMACS_CLIENT_DIR  directory holding dbos-lsp.el
;;   DBOS_LSP_CMD_JSON      JSON array overriding `dbos-lsp-command'
;;   DBOS_EMACS_RESULT      file the JSON results are written to
;;   DBOS_EMACS_WAIT_S      per-step wait bound in seconds (default 15)
;;   DBOS_EMACS_WORKSPACE_CONFIG  optional Lisp for `eglot-workspace-configuration'
;;   DBOS_EMACS_EXPECT_TYPE       optional: also wait until DBOS101's flymake type is this
;; Standard input: the answers to the minibuffer prompts of the quick-fix step
;; (`M-x' command name, then the code action to pick), one per line.
;;
;; The driver records what eglot / flymake saw; test_emacs.py asserts.  It
;; always writes the result file (even after an error) and then exits.

(require 'package)
(package-initialize)                  ; Emacs 28: activates Debian's elpa-eglot
(require 'json)
(require 'subr-x)

(defvar dbos-driver-result (make-hash-table :test 'equal))
(defvar dbos-driver-wait (string-to-number (or (getenv "DBOS_EMACS_WAIT_S") "15")))
(defvar dbos-driver-t0 (float-time))
(when (<= dbos-driver-wait 0) (setq dbos-driver-wait 15))

(defun dbos-driver-put (key value) (puthash key value dbos-driver-result))

(defun dbos-driver-step (name)
  (dbos-driver-put "steps" (append (gethash "steps" dbos-driver-result)
                                   (list (list (cons "name" name)
                                               (cons "ms" (round (* 1000 (- (float-time) dbos-driver-t0)))))))))

(defun dbos-driver-write ()
  (dbos-driver-put "total_ms" (round (* 1000 (- (float-time) dbos-driver-t0))))
  (let ((json-encoding-pretty-print nil))
    (with-temp-file (getenv "DBOS_EMACS_RESULT")
      (insert (json-encode dbos-driver-result)))))

(defun dbos-driver-wait-until (pred)
  "Spin the event loop until PRED is non-nil or the wait bound passes."
  (let ((deadline (+ (float-time) dbos-driver-wait)) (ok nil))
    (while (and (not (setq ok (funcall pred))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    ok))

(defun dbos-driver-diags ()
  "Flymake diagnostics of the current buffer as alists (line is 1-based)."
  (mapcar (lambda (d)
            (let ((lsp (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data d)))))
              (list (cons "line" (line-number-at-pos (flymake-diagnostic-beg d)))
                    (cons "type" (format "%s" (flymake-diagnostic-type d)))
                    (cons "text" (flymake-diagnostic-text d))
                    (cons "code" (and lsp (format "%s" (plist-get lsp :code))))
                    (cons "source" (and lsp (plist-get lsp :source))))))
          (flymake-diagnostics)))

(defun dbos-driver-dbos101 ()
  (cl-remove-if-not (lambda (d) (equal (cdr (assoc "code" d)) "DBOS101")) (dbos-driver-diags)))

(defun dbos-driver-refresh-flymake ()
  ;; Batch mode has no idle timers: poke flymake (and eglot's change timer) by hand.
  (when (and (fboundp 'eglot--signal-textDocument/didChange) (eglot-current-server))
    (eglot--signal-textDocument/didChange))
  (flymake-start))

(defun dbos-driver-run (file)
  (add-to-list 'load-path (getenv "DBOS_EMACS_CLIENT_DIR"))
  (require 'dbos-lsp)
  (require 'eglot)
  (require 'flymake)
  (require 'python)
  (dbos-driver-put "eglot_version" (or (and (boundp 'eglot--version) eglot--version)
                                       (ignore-errors (package-desc-version (cadr (assq 'eglot package-alist))))
                                       "builtin"))
  (when (getenv "DBOS_LSP_CMD_JSON")
    (setq dbos-lsp-command (append (json-read-from-string (getenv "DBOS_LSP_CMD_JSON")) nil)))
  (dbos-lsp-eglot-setup)
  (when (getenv "DBOS_EMACS_WORKSPACE_CONFIG")
    (setq-default eglot-workspace-configuration
                  (car (read-from-string (getenv "DBOS_EMACS_WORKSPACE_CONFIG")))))
  (let ((entry (assoc '(python-mode python-ts-mode) eglot-server-programs)))
    (dbos-driver-put "registered" (if entry t :json-false))
    (dbos-driver-put "registered_first" (if (and entry (eq entry (car eglot-server-programs))) t :json-false)))
  ;; t = block until initialize answers (bounded by eglot-connect-timeout).  A number
  ;; is unreliable: eglot returns after the first output of *any* process.
  (setq eglot-sync-connect t
        eglot-connect-timeout (* 2 dbos-driver-wait)
        eglot-autoshutdown t)
  (let ((buf (find-file-noselect file)))
    (switch-to-buffer buf)              ; eldoc callbacks only fire for displayed buffers
    (with-current-buffer buf
      (python-mode)
      (eglot-ensure)
      ;; eglot-ensure defers to post-command-hook, which batch mode never runs.
      (unless (eglot-current-server)
        (apply #'eglot (eglot--guess-contact)))
      (dbos-driver-wait-until #'eglot-current-server)
      (let ((server (eglot-current-server)))
        (dbos-driver-step "connect")
        (dbos-driver-put "connected" (and server (jsonrpc-running-p server) t))
        (when server
          (dbos-driver-put "server_command" (process-command (jsonrpc--process server)))
          (dbos-driver-put "server_name" (plist-get (eglot--server-info server) :name))
          (dbos-driver-put "project_root" (expand-file-name (project-root (eglot--project server)))))
        (when server
          ;; 1. diagnostics through flymake
          (dbos-driver-put "diagnostic_found"
                           (and (dbos-driver-wait-until
                                 (lambda () (flymake-start) (dbos-driver-dbos101)))
                                t))
          (dbos-driver-step "diagnostics")
          (when-let ((want (getenv "DBOS_EMACS_EXPECT_TYPE")))
            (dbos-driver-put "type_matched"
                             (if (dbos-driver-wait-until
                                  (lambda () (flymake-start)
                                    (equal (cdr (assoc "type" (car (dbos-driver-dbos101)))) want)))
                                 t :json-false)))
          (dbos-driver-put "diagnostics" (vconcat (dbos-driver-diags)))
          ;; 2. hover on `sleep' in DBOS.sleep(30)
          (goto-char (point-min))
          (when (search-forward "DBOS.sleep(" nil t)
            (goto-char (+ (match-beginning 0) (length "DBOS.") 1))
            (dbos-driver-put "hover_line" (line-number-at-pos))
            ;; (a) the LSP request eglot itself makes for eldoc
            (let ((hover (jsonrpc-request server :textDocument/hover
                                          (eglot--TextDocumentPositionParams)
                                          :timeout dbos-driver-wait)))
              (dbos-driver-put "hover_raw"
                               (and hover (eglot--hover-info (plist-get hover :contents)))))
            ;; (b) eglot's eldoc hover function, i.e. what a user sees in the echo area
            (let (eldoc-text)
              (eglot-hover-eldoc-function (lambda (info &rest _) (setq eldoc-text (or info ""))))
              (dbos-driver-wait-until (lambda () eldoc-text))
              (dbos-driver-put "hover_eldoc" (and eldoc-text (substring-no-properties eldoc-text)))))
          (dbos-driver-step "hover")
          ;; 3. quick fix, the way the README tells a user to: cursor on the
          ;; diagnostic, `M-x eglot-code-actions RET', pick the fix.  The command
          ;; name and the choice are read from stdin (batch mode's minibuffer),
          ;; where test_emacs.py types them.
          (let ((d (car (cl-remove-if-not
                         (lambda (d) (equal (format "%s" (plist-get (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data d))) :code))
                                            "DBOS101"))
                         (flymake-diagnostics)))))
            (when d
              (let* ((beg (flymake-diagnostic-beg d))
                     (line-no (line-number-at-pos beg))
                     ;; what the menu will offer (recorded for the assertions only)
                     (actions (eglot-code-actions beg (flymake-diagnostic-end d))))
                (dbos-driver-put "code_actions"
                                 (vconcat (mapcar (lambda (a) (list (cons "title" (plist-get a :title))
                                                                    (cons "isPreferred" (if (eq (plist-get a :isPreferred) t) t :json-false))))
                                                  actions)))
                (dbos-driver-step "code_actions")
                (goto-char (point-min))
                (search-forward "DBOS.sleep(")
                (goto-char (+ (match-beginning 0) (length "DBOS.") 1)) ; on `sleep'
                ;; After a keyboard `M-x ... RET' this is the RET key; batch mode starts
                ;; with nil, which eglot takes for a mouse click and shows no menu.
                (let ((last-nonmenu-event ?\r)
                      (before (buffer-substring-no-properties (line-beginning-position) (line-end-position))))
                  (call-interactively #'execute-extended-command)
                  (dbos-driver-put "command_run" (format "%s" this-command))
                  (dbos-driver-put "line_before" before))
                (save-excursion
                  (goto-char (point-min)) (forward-line (1- line-no))
                  (dbos-driver-put "line_after" (buffer-substring-no-properties
                                                 (line-beginning-position) (line-end-position))))
                ;; 4. the diagnostic disappears after the edit
                (dbos-driver-put "diagnostic_cleared"
                                 (and (dbos-driver-wait-until
                                       (lambda () (dbos-driver-refresh-flymake) (null (dbos-driver-dbos101))))
                                      t))
                (dbos-driver-step "diagnostic_cleared")
                (dbos-driver-put "diagnostics_after" (vconcat (dbos-driver-diags)))))))
        (when server
          (set-buffer-modified-p nil)
          (ignore-errors (eglot-shutdown server nil 5)))))))

(let ((ok t))
  (condition-case err
      (dbos-driver-run (car command-line-args-left))
    (error (setq ok nil)
           (dbos-driver-put "error" (format "%S" err))))
  (setq command-line-args-left nil)
  (dbos-driver-write)
  (kill-emacs (if ok 0 3)))
