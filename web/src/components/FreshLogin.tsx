// A sensitive change (subscribing an account, creating a signal token) needs a fresh password
// login; a session picked up again from the refresh cookie is not one. When the action's error
// is fresh_login_required, this asks for the password again (and the code, for an account with
// two factors), logs in anew and runs the action once more. The password stays in this
// component's state only, cleared once used.
import { useState } from "preact/hooks";
import { isApiError, confirmPassword } from "../api/session";
import { t } from "../i18n";
import { ErrorBox, TextField, useAction, type Action } from "./forms";

export function FreshLogin({ action }: { action: Action }) {
  const [password, setPassword] = useState("");
  const [otp, setOtp] = useState("");
  const [needsCode, setNeedsCode] = useState(false);
  const confirm = useAction(async () => {
    try {
      await confirmPassword(password, needsCode ? { otp: otp.trim() } : {});
    } catch (failure) {
      if (isApiError(failure, "mfa_required")) {
        setNeedsCode(true);
        return;
      }
      throw failure;
    }
    setPassword("");
    setOtp("");
    await action.run();
  });
  if (!isApiError(action.error, "fresh_login_required")) return null;
  return (
    <div class="card notice" data-testid="fresh-login">
      <p>{t("fresh.prompt")}</p>
      <div class="grid">
        <TextField secret autoComplete="current-password" label={t("login.password")} name="fresh_password" value={password} onChange={setPassword} />
        {needsCode && <TextField label={t("login.otp")} name="fresh_otp" inputMode="numeric" autoComplete="one-time-code" value={otp} onChange={setOtp} />}
      </div>
      <ErrorBox error={confirm.error} />
      <button type="button" disabled={confirm.busy || !password} onClick={() => void confirm.run()}>
        {t("fresh.confirm")}
      </button>
    </div>
  );
}
