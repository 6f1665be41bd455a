"""Face: the live check.  The overlay (preview, guide oval, the face's box, what to do now), the
challenge's steps ticked off, the attempts left, why the last attempt failed, "Try again", and the
SMS code as the way out at any moment."""

from __future__ import annotations

from devices.face_api import FacePrompt
from kiosk.availability import Availability
from kiosk.flows.recovery import RecoveryState
from kiosk.i18n import Translator
from kiosk.screens.recovery.base import RecoveryScreen
from kiosk.widgets import face_frame  # noqa: F401  (registers FaceFrame and ChallengeSteps)
from kiosk.widgets.style import load_kv

# Prompts that mean the face is not yet where the check wants it.
NOT_READY = frozenset({FacePrompt.LOOK, FacePrompt.COME_CLOSER, FacePrompt.ONE_FACE})
PROMPT_KEYS = {
    FacePrompt.LOOK: "recovery.face.prompt.look",
    FacePrompt.COME_CLOSER: "recovery.face.prompt.come_closer",
    FacePrompt.ONE_FACE: "recovery.face.prompt.one_face",
    FacePrompt.BLINK: "recovery.face.prompt.blink",
    FacePrompt.TURN_LEFT: "recovery.face.prompt.turn_left",
    FacePrompt.TURN_RIGHT: "recovery.face.prompt.turn_right",
    FacePrompt.HOLD_STILL: "recovery.face.prompt.hold_still",
}


class FaceScreen(RecoveryScreen):
    def show(self, state: RecoveryState, tr: Translator, availability: Availability) -> None:
        ids = self.ids
        face = state.face if state.face_running else None
        failed = not state.face_running
        frame = ids.frame
        if failed:
            frame.prompt = ""
        else:
            frame.prompt = tr.text(PROMPT_KEYS[face.prompt if face is not None else FacePrompt.LOOK])
        frame.box = face.box if face is not None and not failed else None
        frame.ready = face is not None and face.prompt not in NOT_READY and not failed
        ids.title.text = tr.text("recovery.face.title")
        ids.steps.show(state.challenge, face.steps_done if face is not None and not failed else 0, tr)
        ids.attempts.text = tr.text("recovery.face.attempts_left", count=state.face_attempts_left) \
            if state.face_attempts_left > 0 else tr.text("recovery.face.no_attempts_left")
        ids.note.text = tr.message(state.face_note)
        ids.private.text = tr.text("recovery.face.private")
        can_retry = state.can_retry_face
        ids.retry.text = tr.text("recovery.face.retry")
        ids.retry.opacity = 1 if can_retry else 0
        ids.retry.disabled = not can_retry
        ids.use_sms.text = tr.text("recovery.face.sms")
        ids.use_sms.disabled = not state.sms_offered

    def on_shown(self) -> None:
        frame = self.ids.frame
        frame.source = self.flow.preview  # the running face check's latest frame
        frame.start()

    def on_hidden(self) -> None:
        self.ids.frame.stop()


load_kv(__file__)
