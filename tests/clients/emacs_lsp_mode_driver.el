;;; emacs_lsp_mode_driver.el --- batch end-to-end check of lsp-mode + clients/emacs/dbos-lsp.el  -*- lexical-binding: t -*-

;; Usage (see test_emacs.py):
;;   emacs --batch -l tests/clients/emacs_lsp_mode_driver.el /path/to/proj/app.py
;; Environment: DBOS_EMACS_CLIENT_DIR, DBOS_LSP_CMD_JSON, DBOS_EMACS_RESULT,
;; DBOS_EMACS_WAIT_S (as for emacs_driver.el).
;;
;; Records whether lsp-mode starts dbos-lsp as an add-on workspace for the
;; buffer *beside* a main Python server, the diagnostics lsp-mode received,
;; and hover; test_emacs.py asserts.  The "main" server (pyright/pylsp are not
;; installed here) is a second copy of the same command registered as an
;; ordinary, non-add-on client with a higher priority: without `:add-on? t'
;; only one of the two would start.

(require 'package)
(package-initialize)
(require 'json)
(require 'subr-x)
(require 'cl-lib)
(require 'lsp-mode)
(require 'python)

(defvar dbos-driver-result (make-hash-table :test 'equal))
(defvar dbos-driver-wait (string-to-number (or (getenv "DBOS_EMACS_WAIT_S") "15")))
(defvar dbos-driver-t0 (float-time))
(when (<= dbos-driver-wait 0) (setq dbos-driver-wait 15))

(defun dbos-driver-put (key value) (puthash key value dbos-driver-result))

(defun dbos-driver-wait-until (pred)
  (let ((deadline (+ (float-time) dbos-driver-wait)) (ok nil))
    (while (and (not (setq ok (funcall pred))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    ok))

(defun dbos-driver-write ()
  (dbos-driver-put "total_ms" (round (* 1000 (- (float-time) dbos-driver-t0))))
  (with-temp-file (getenv "DBOS_EMACS_RESULT")
    (insert (json-encode dbos-driver-result))))

(defun dbos-driver-ws ()
  "The buffer's dbos-lsp workspace, once initialized."
  (cl-find-if (lambda (ws) (and (eq (lsp--client-server-id (lsp--workspace-client ws)) 'dbos-lsp)
                                (eq (lsp--workspace-status ws) 'initialized)))
              (lsp-workspaces)))

(defun dbos-driver-lsp-diags (file)
  "Diagnostics lsp-mode stored for FILE from the dbos-lsp workspace, as alists (1-based lines)."
  (let ((diags (and (dbos-driver-ws)
                    (gethash (lsp--fix-path-casing file) (lsp--workspace-diagnostics (dbos-driver-ws))))))
    (mapcar (lambda (d)
              (list (cons "line" (1+ (lsp:position-line (lsp:range-start (lsp:diagnostic-range d)))))
                    (cons "code" (format "%s" (lsp:diagnostic-code? d)))
                    (cons "source" (lsp:diagnostic-source? d))
                    (cons "message" (lsp:diagnostic-message d))))
            diags)))

(defun dbos-driver-run (file)
  (add-to-list 'load-path (getenv "DBOS_EMACS_CLIENT_DIR"))
  (require 'dbos-lsp)
  (when (getenv "DBOS_LSP_CMD_JSON")
    (setq dbos-lsp-command (append (json-read-from-string (getenv "DBOS_LSP_CMD_JSON")) nil)))
  (lsp-register-client
   (make-lsp-client :new-connection (lsp-stdio-connection (lambda () dbos-lsp-command))
                    :activation-fn (lsp-activate-on "python")
                    :priority 100
                    :server-id 'stand-in-main-python))
  ;; Non-interactive lsp-mode: no root prompt, no session file in ~, no watchers.
  (setq lsp-auto-guess-root t
        lsp-session-file (expand-file-name "lsp-session" temporary-file-directory)
        lsp-enable-file-watchers nil
        lsp-restart 'ignore
        lsp-keep-workspace-alive nil
        lsp-diagnostics-provider :none   ; read lsp-mode's own store; no flycheck in Debian's set
        lsp-modeline-code-actions-enable nil
        lsp-headerline-breadcrumb-enable nil
        lsp-enable-snippet nil
        lsp-log-io nil)
  (let ((buf (find-file-noselect file)))
    (switch-to-buffer buf)
    (with-current-buffer buf
      (python-mode)
      (lsp)
      (dbos-driver-put "started"
                       (if (dbos-driver-wait-until #'dbos-driver-ws) t :json-false))
      (dbos-driver-put "all_initialized"
                       (if (dbos-driver-wait-until
                            (lambda () (and (= (length (lsp-workspaces)) 2)
                                            (cl-every (lambda (ws) (eq (lsp--workspace-status ws) 'initialized))
                                                      (lsp-workspaces)))))
                           t :json-false))
      (dbos-driver-put "workspaces"
                       (vconcat (mapcar (lambda (ws)
                                          (list (cons "server_id" (symbol-name (lsp--client-server-id (lsp--workspace-client ws))))
                                                (cons "add_on" (if (lsp--client-add-on? (lsp--workspace-client ws)) t :json-false))
                                                (cons "status" (format "%s" (lsp--workspace-status ws)))
                                                (cons "root" (lsp--workspace-root ws))))
                                        (lsp-workspaces))))
      (when (eq (gethash "started" dbos-driver-result) t)
        (dbos-driver-put "diagnostic_found"
                         (if (dbos-driver-wait-until
                              (lambda () (cl-some (lambda (d) (equal (cdr (assoc "code" d)) "DBOS101"))
                                                  (dbos-driver-lsp-diags (buffer-file-name)))))
                             t :json-false))
        (dbos-driver-put "diagnostics" (vconcat (dbos-driver-lsp-diags (buffer-file-name))))
        (goto-char (point-min))
        (when (search-forward "DBOS.sleep(" nil t)
          (goto-char (+ (match-beginning 0) (length "DBOS.") 1))
          (let ((hover (with-lsp-workspace (dbos-driver-ws)
                         (lsp-request "textDocument/hover" (lsp--text-document-position-params)))))
            (dbos-driver-put "hover"
                             (and hover (lsp--render-on-hover-content (lsp:hover-contents hover) t)))))
        (set-buffer-modified-p nil)
        (dolist (ws (lsp-workspaces)) (ignore-errors (lsp-workspace-shutdown ws)))))))

(let ((ok t))
  (condition-case err
      (dbos-driver-run (car command-line-args-left))
    (error (setq ok nil)
           (dbos-driver-put "error" (format "%S" err))))
  (setq command-line-args-left nil)
  (dbos-driver-write)
  (kill-emacs (if ok 0 3)))
