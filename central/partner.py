"""Partner ticketing platforms: loss reports, accounts bound to phones, face templates (the partner API).

A partner platform has its own credential (``central partners add NAME`` prints it once; only its
SHA-256 is kept), which reaches only the routes under ``/api/v1/partner/`` (a kiosk credential
is refused there, and a partner credential on the kiosk routes). Every call is audited with the
partner's id as the actor.

A loss report revokes the order's live pickup codes and QR tokens at once (every kiosk's
revocation list); with ``new_code_by_sms`` a new code then goes to the bound phone, which the
partner names (the central keeps only its hash): if that SMS fails the revocation stands.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client.masking import mask_phone
from backend_client.wire import (
    FACE_IMAGE_MAX_BYTES,
    AccountBinding,
    AccountView,
    ErrorCode,
    FaceEnrolment,
    FaceTemplateDeleted,
    FaceTemplateDeletion,
    FaceTemplateView,
    LossReport,
    LossReportResult,
)
from central.accounts import AccountError, bind_order, describe, ensure_account, find_account, phone_hmac
from central.codes import issue_code, revoke_live_codes
from central.common import Refusal, audit, new_id
from central.context import CentralBase
from central.face_templates import FaceImageError, delete_template, encode_image, enrol_template
from central.models import Cinema, Order, Partner
from central.secret_store import hash_kiosk_secret, new_kiosk_secret, split_credential
from central.sms import SmsError

PARTNER_ID_PREFIX = "partner"
PICKUP_TEXT = "【{cinema}】您的订单已挂失，新取票码：{serial} {verification}（原取票码已作废）。"


class PartnerArea(CentralBase):
    """The partner API's rules."""

    def authenticate_partner(self, credential: str | None) -> Partner:
        parts = split_credential(credential) if credential else None
        if parts is None:
            raise Refusal(ErrorCode.UNAUTHORIZED, "partner credential missing or malformed")
        partner_id, secret = parts
        with self.sessions() as session:
            partner = session.get(Partner, partner_id)
        if partner is None or not hmac.compare_digest(partner.secret_hash, hash_kiosk_secret(secret)):
            raise Refusal(ErrorCode.UNAUTHORIZED, "partner credential not recognised")
        if partner.revoked:
            raise Refusal(ErrorCode.UNAUTHORIZED, "this partner has been revoked")
        return partner

    def partner_loss_report(self, partner: Partner, order_id: str, report: LossReport) -> LossReportResult:
        if report.new_code_by_sms and report.phone is None:
            raise Refusal(ErrorCode.BAD_REQUEST, "a new code by SMS needs the bound phone number")
        with self.sessions.begin() as session:
            now = self.clock.now()
            order = session.get(Order, order_id, with_for_update=True)
            if order is None:
                raise Refusal(ErrorCode.UNKNOWN_CODE, "no such order")
            if order.status == "refunded":
                raise Refusal(ErrorCode.REFUNDED, "this order has been refunded")
            if report.new_code_by_sms:
                self._check_bound_phone(session, order, report.phone or "")
            revoked = revoke_live_codes(session, order.id, f"reported_{report.reason.value}", now)
            audit(session, now, partner.id, "loss_reported", order.id, reason=report.reason.value,
                  note=report.note, revoked_codes=revoked, new_code_by_sms=report.new_code_by_sms)
        # The revocation stands whatever happens to the SMS below.
        if not report.new_code_by_sms:
            return LossReportResult(order_id=order_id, revoked_codes=revoked)
        if self.sms is None:
            raise Refusal(ErrorCode.SMS_UNAVAILABLE, "no SMS gateway: the codes are revoked, issue a new one at the "
                          "counter", {"revoked_codes": revoked})
        phone = report.phone or ""
        try:
            with self.sessions.begin() as session:
                now = self.clock.now()
                order = session.get_one(Order, order_id, with_for_update=True)
                issued = issue_code(self, session, order, now)
                cinema = session.get_one(Cinema, order.cinema_id)
                self.sms.send(phone, "pickup_code", PICKUP_TEXT.format(
                    cinema=cinema.name, serial=issued.serial, verification=issued.verification), now,
                    {"serial": issued.serial, "code": issued.verification})
                audit(session, now, partner.id, "new_code_sent", order.id, phone=mask_phone(phone))
        except SmsError:
            with self.sessions.begin() as session:
                audit(session, self.clock.now(), partner.id, "new_code_not_sent", order_id, phone=mask_phone(phone))
            raise Refusal(ErrorCode.SMS_UNAVAILABLE, "the codes are revoked but the SMS could not be sent: try again",
                          {"revoked_codes": revoked}) from None
        return LossReportResult(order_id=order_id, revoked_codes=revoked, new_code_sent_to=mask_phone(phone))

    def _check_bound_phone(self, session: Session, order: Order, phone: str) -> None:
        if order.account_id is None:
            raise Refusal(ErrorCode.BAD_REQUEST, "this order has no bound phone: register the account first")
        account = find_account(self, session, phone)
        if account is None or account.id != order.account_id or account.phone_hmac != phone_hmac(self, phone):
            raise Refusal(ErrorCode.BAD_REQUEST, "this is not the phone bound to the order")

    def partner_bind_account(self, partner: Partner, binding: AccountBinding) -> AccountView:
        with self.sessions.begin() as session:
            now = self.clock.now()
            orders = []
            for order_id in dict.fromkeys(binding.order_ids):
                order = session.get(Order, order_id, with_for_update=True)
                if order is None:
                    raise Refusal(ErrorCode.UNKNOWN_CODE, "no such order", {"order_id": order_id})
                orders.append(order)
            account, _created = _account(self, session, binding.phone, binding.id_last4, now, partner.id)
            for order in orders:
                bind_order(session, order, account, now, partner.id)
            return AccountView(**describe(session, account))

    def partner_enrol_face(self, partner: Partner, enrolment: FaceEnrolment) -> FaceTemplateView:
        if (enrolment.image_base64 is None) == (enrolment.encoding is None):
            raise Refusal(ErrorCode.BAD_REQUEST, "send either image_base64 or encoding")
        if enrolment.image_base64 is not None:
            try:
                image = base64.b64decode(enrolment.image_base64, validate=True)
            except (binascii.Error, ValueError):
                raise Refusal(ErrorCode.BAD_REQUEST, "image_base64 is not base64") from None
            if len(image) > FACE_IMAGE_MAX_BYTES:
                raise Refusal(ErrorCode.BAD_REQUEST, "the image is too large", {"max_bytes": FACE_IMAGE_MAX_BYTES})
            try:
                encoding = encode_image(image)  # before the transaction: it takes a quarter second
            except FaceImageError as exc:
                raise Refusal(ErrorCode.BAD_REQUEST, str(exc)) from None
            finally:
                del image
        else:
            encoding = list(enrolment.encoding or [])
        with self.sessions.begin() as session:
            now = self.clock.now()
            account = find_account(self, session, enrolment.phone)
            if account is None:
                raise Refusal(ErrorCode.BAD_REQUEST, "no account has this phone: register it first")
            try:
                template = enrol_template(session, self.sealer, account, encoding, enrolment.consent_version,
                                          enrolment.consented_at, now, partner.id)
            except FaceImageError as exc:
                raise Refusal(ErrorCode.BAD_REQUEST, str(exc)) from None
            return FaceTemplateView(phone_masked=account.phone_masked, consent_version=template.consent_version,
                                    consented_at=template.consented_at, enrolled_at=template.enrolled_at)

    def partner_delete_face(self, partner: Partner, deletion: FaceTemplateDeletion) -> FaceTemplateDeleted:
        with self.sessions.begin() as session:
            now = self.clock.now()
            account = find_account(self, session, deletion.phone)
            deleted = account is not None and delete_template(session, account, now, partner.id)
            if account is None:
                audit(session, now, partner.id, "face_template_deleted", phone=mask_phone(deletion.phone),
                      existed=False)
            return FaceTemplateDeleted(phone_masked=mask_phone(deletion.phone), deleted=deleted)


def _account(central: CentralBase, session: Session, phone: str, id_last4: str | None, now: datetime, actor: str
             ) -> tuple[Any, bool]:
    try:
        return ensure_account(central, session, phone, id_last4, now, actor)
    except AccountError as exc:
        raise Refusal(ErrorCode.BAD_REQUEST, str(exc)) from None


# ---- head office: partners' credentials (the CLI) --------------------------------------------


def add_partner(session: Session, name: str, now: datetime, actor: str = "cli") -> dict[str, Any]:
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError("a partner needs a name of 1 to 100 characters")
    if session.scalars(select(Partner).where(Partner.name == name)).first() is not None:
        raise AccountError(f"a partner named {name!r} exists (revoke it, or choose another name)")
    secret = new_kiosk_secret()
    partner = Partner(id=new_id(PARTNER_ID_PREFIX), name=name, secret_hash=hash_kiosk_secret(secret), revoked=False,
                      created_at=now)
    session.add(partner)
    audit(session, now, actor, "partner_added", partner_id=partner.id, name=name)
    return {"partner_id": partner.id, "name": name, "credential": f"{partner.id}.{secret}"}


def revoke_partner(session: Session, partner_id: str, now: datetime, actor: str = "cli") -> dict[str, Any]:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise AccountError(f"no partner {partner_id!r}")
    partner.revoked = True
    audit(session, now, actor, "partner_revoked", partner_id=partner.id)
    return {"partner_id": partner.id, "revoked": True}


def list_partners(session: Session) -> dict[str, Any]:
    return {"partners": [{"partner_id": p.id, "name": p.name, "revoked": p.revoked}
                         for p in session.scalars(select(Partner).order_by(Partner.name))]}
