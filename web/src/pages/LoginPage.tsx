// Log in with username and password; an account with MFA is asked for its code next (or a
// recovery code), without typing the password again.
import { useState } from "preact/hooks";
import { isApiError, login, type SecondFactor } from "../api/session";
import { Submit, TextField, useAction } from "../components/forms";
import { t } from "../i18n";

type Step = "password" | "otp" | "recovery";

function factorOf(step: Step, code: string): SecondFactor {
  if (step === "otp") return { otp: code.trim() };
  if (step === "recovery") return { recovery_code: code.trim() };
  return {};
}

export function LoginPage({ expired }: { expired: boolean }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [step, setStep] = useState<Step>("password");
  const submit = useAction(async () => {
    try {
      await login(username.trim(), password, factorOf(step, code));
    } catch (failure) {
      if (!isApiError(failure, "mfa_required")) throw failure;
      setStep("otp");
    }
  });
  const other: Step = step === "otp" ? "recovery" : "otp";

  return (
    <form class="card login" onSubmit={submit.run} data-testid="login-form">
      <h1>{t("login.title")}</h1>
      {expired && <p class="notice">{t("login.expired")}</p>}
      {step === "password" ? (
        <>
          <TextField label={t("login.username")} name="username" autoComplete="username" required value={username} onChange={setUsername} />
          <TextField label={t("login.password")} name="password" secret autoComplete="current-password" required value={password} onChange={setPassword} />
        </>
      ) : (
        <>
          <p>{step === "otp" ? t("login.otpPrompt") : t("login.recoveryPrompt")}</p>
          <TextField
            label={step === "otp" ? t("login.otp") : t("login.recoveryCode")}
            name={step === "otp" ? "otp" : "recovery_code"}
            autoComplete="one-time-code"
            inputMode={step === "otp" ? "numeric" : "text"}
            required
            autoFocus
            value={code}
            onChange={setCode}
          />
          <button type="button" class="link" onClick={() => (setCode(""), setStep(other))}>
            {other === "recovery" ? t("login.useRecovery") : t("login.useOtp")}
          </button>
        </>
      )}
      <Submit action={submit} label={t("login.submit")} />
    </form>
  );
}
