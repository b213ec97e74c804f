;;; dbos-lsp.el --- DBOS durable-workflow guidance via dbos-lsp (eglot and lsp-mode)  -*- lexical-binding: t -*-

;; Keywords: languages, tools, python
;; Package-Requires: ((emacs "27.1"))
;; Version: 0.1.0

;;; Commentary:

;; Registers the dbos-lsp language server (diagnostics such as DBOS101,
;; hovers on DBOS APIs, quick fixes) for Python buffers with whichever LSP
;; client you use:
;;
;; * lsp-mode: as an *add-on* server (`:add-on? t'), so it runs beside
;;   pyright / pylsp / ruff instead of competing with them.
;;
;; * eglot: eglot runs ONE server per major mode and project, so registering
;;   dbos-lsp for `python-mode' replaces pyright/pylsp in eglot.  That is why
;;   the eglot registration is opt-in: call `dbos-lsp-eglot-setup' (or set
;;   `dbos-lsp-eglot-register' to t before loading this file).
;;
;; Usage:
;;
;;   (add-to-list 'load-path "/path/to/dbos-lsp/clients/emacs")
;;   (require 'dbos-lsp)
;;   ;; eglot:
;;   (dbos-lsp-eglot-setup)
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;   ;; or lsp-mode (registered automatically once lsp-mode loads):
;;   (add-hook 'python-mode-hook #'lsp-deferred)
;;
;; The server must be installed (`pip install /path/to/dbos-lsp-checkout',
;; which provides the `dbos-lsp' command); point `dbos-lsp-command' at it if
;; it is not on PATH, e.g. '("/path/to/venv/bin/python" "-m" "dbos_lsp").
;;
;; Quick fixes with eglot: `M-x eglot-code-actions' on the diagnostic (the
;; preferred fix is the default).  `eglot-code-action-quickfix' does nothing
;; with eglot 1.9 (Emacs 28's elpa-eglot).

;;; Code:

(require 'cl-lib)

(defgroup dbos-lsp nil
  "DBOS durable-workflow guidance via the dbos-lsp language server."
  :group 'tools
  :prefix "dbos-lsp-")

(defcustom dbos-lsp-command '("dbos-lsp")
  "Command (program and arguments) that starts dbos-lsp over stdio."
  :type '(repeat string)
  :group 'dbos-lsp)

(defcustom dbos-lsp-major-modes '(python-mode python-ts-mode)
  "Major modes dbos-lsp is used for."
  :type '(repeat symbol)
  :group 'dbos-lsp)

(defcustom dbos-lsp-eglot-register nil
  "When non-nil, register dbos-lsp with eglot as soon as eglot loads.
eglot manages a major mode with a single server, so this makes eglot
use dbos-lsp instead of pyright/pylsp for Python buffers."
  :type 'boolean
  :group 'dbos-lsp)

(defcustom dbos-lsp-lsp-mode-register t
  "When non-nil, register dbos-lsp with lsp-mode once lsp-mode loads.
It is registered as an add-on server, so it runs beside other servers."
  :type 'boolean
  :group 'dbos-lsp)

(defun dbos-lsp--command (&rest _)
  "Return the server command, honouring `dbos-lsp-command' at connection time."
  (copy-sequence dbos-lsp-command))

;;;; eglot

(defvar eglot-server-programs)

;;;###autoload
(defun dbos-lsp-eglot-setup ()
  "Make eglot start dbos-lsp for `dbos-lsp-major-modes'.
Replaces any earlier dbos-lsp entry; the entry goes first so it wins
over eglot's built-in Python servers."
  (interactive)
  (with-eval-after-load 'eglot
    (setq eglot-server-programs
          (cons (cons dbos-lsp-major-modes #'dbos-lsp--command)
                (cl-remove-if (lambda (entry) (eq (cdr-safe entry) #'dbos-lsp--command))
                              eglot-server-programs)))))

(when dbos-lsp-eglot-register
  (dbos-lsp-eglot-setup))

;;;; lsp-mode

(declare-function lsp-register-client "lsp-mode")
(declare-function make-lsp-client "lsp-mode")
(declare-function lsp-stdio-connection "lsp-mode")
(declare-function lsp-activate-on "lsp-mode")
(declare-function lsp--set-configuration "lsp-mode")
(declare-function lsp-configuration-section "lsp-mode")
(defvar lsp-language-id-configuration)
(defvar lsp--cur-workspace)

;;;###autoload
(defun dbos-lsp-lsp-mode-setup ()
  "Register dbos-lsp with lsp-mode as an add-on server for Python."
  (interactive)
  (with-eval-after-load 'lsp-mode
    (dolist (mode dbos-lsp-major-modes)
      (unless (assq mode lsp-language-id-configuration)
        (add-to-list 'lsp-language-id-configuration (cons mode "python"))))
    (lsp-register-client
     (make-lsp-client
      :new-connection (lsp-stdio-connection #'dbos-lsp--command)
      :activation-fn (lsp-activate-on "python")
      :major-modes dbos-lsp-major-modes
      ;; Run beside pyright / pylsp / ruff rather than instead of them.
      :add-on? t
      :priority -2
      :server-id 'dbos-lsp
      ;; Answer with the "dbos" section of `lsp-configuration-section'
      ;; (register keys with `lsp-register-custom-settings', e.g. "dbos.ignore").
      :initialized-fn (lambda (workspace)
                        ;; = (with-lsp-workspace workspace ...), without needing
                        ;; lsp-mode's macro when this file is loaded or compiled.
                        (let ((lsp--cur-workspace workspace))
                          (lsp--set-configuration (lsp-configuration-section "dbos"))))))))

(when dbos-lsp-lsp-mode-register
  (dbos-lsp-lsp-mode-setup))

(provide 'dbos-lsp)
;;; dbos-lsp.el ends here
