// Log in with username and password; an account with MFA is asked for its code next (or a
// recovery code), without typing the password again.
import { useState } from "preact/hooks";
import { isApiError, login } from "../api/session";
import { ErrorBox, Field, valueOf } from "../components/forms";
import { t } from "../i18n";

export function LoginPage({ expired }: { expired: boolean }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [step, setStep] = useState<"password" | "otp" | "recovery">("password");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const factor = step === "otp" ? { otp: code.trim() } : step === "recovery" ? { recovery_code: code.trim() } : {};
    try {
      await login(username.trim(), password, factor);
    } catch (failure) {
      if (isApiError(failure, "mfa_required")) setStep("otp");
      else setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card login" onSubmit={submit} data-testid="login-form">
      <h1>{t("login.title")}</h1>
      {expired && <p class="notice">{t("login.expired")}</p>}
      {step === "password" ? (
        <>
          <Field label={t("login.username")}>
            <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(valueOf(e))} />
          </Field>
          <Field label={t("login.password")}>
            <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(valueOf(e))} />
          </Field>
        </>
      ) : (
        <>
          <p>{step === "otp" ? t("login.otpPrompt") : t("login.recoveryPrompt")}</p>
          <Field label={step === "otp" ? t("login.otp") : t("login.recoveryCode")}>
            <input
              name={step === "otp" ? "otp" : "recovery_code"}
              autoComplete="one-time-code"
              inputMode={step === "otp" ? "numeric" : "text"}
              required
              autoFocus
              value={code}
              onInput={(e) => setCode(valueOf(e))}
            />
          </Field>
          <button type="button" class="link" onClick={() => { setCode(""); setStep(step === "otp" ? "recovery" : "otp"); }}>
            {step === "otp" ? t("login.useRecovery") : t("login.useOtp")}
          </button>
        </>
      )}
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {t("login.submit")}
      </button>
    </form>
  );
}
