"""Every text the lost-ticket journey can show exists in the three languages, and the consent
text's version is the one the kiosk sends with the person's consent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend_client.wire import ErrorCode
from devices.face_api import FaceOutcome
from kiosk.config import RecoverySection
from kiosk.flows import recovery
from kiosk.i18n import LANGUAGES, load_catalog

FLOW_SOURCE = Path(recovery.__file__).read_text(encoding="utf-8")


def flow_keys() -> set[str]:
    """The keys the flow names: literal ones, its face outcomes' notes, the central's recovery refusals."""
    keys = set(re.findall(r'"((?:recovery|refusal|hint)\.[a-z_]+)"', FLOW_SOURCE))
    keys |= {f"recovery.face_{outcome.value}" for outcome in FaceOutcome if outcome is not FaceOutcome.LIVE}
    keys |= {f"refusal.{code.value}" for code in ErrorCode
             if code.value.startswith("recovery_") and code not in recovery._REFUSAL_KEYS}
    keys |= set(recovery._REFUSAL_KEYS.values()) | set(recovery._REFUSAL_HINTS.values())
    return keys


def test_the_flow_names_the_keys_this_test_reads() -> None:
    assert {"recovery.face_not_matched", "recovery.code_wrong", "hint.recovery_counter"} <= flow_keys()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_the_journey_can_show_is_there(language: str) -> None:
    catalog = load_catalog(language)
    missing = sorted(key for key in flow_keys() if key not in catalog)
    assert missing == [], f"{language} has no text for {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_consent_text_says_what_a_privacy_officer_asks(language: str) -> None:
    text = load_catalog(language)["recovery.consent.text"]
    words = {
        "en": ("face encoding", "No photo and no video is saved", "sent once", "discarded", "audit log",
               "until you have it deleted", "If you decline", "SMS", "deleted"),
        "zh_CN": ("人脸特征值", "不保存任何照片或视频", "只发送一次", "立即丢弃", "安全审计日志",
                  "保存至您申请删除为止", "如果不同意", "短信验证码", "删除"),
        "zh_TW": ("人臉特徵值", "不儲存任何照片或影片", "只傳送一次", "立即丟棄", "安全稽核日誌",
                  "保存至您申請刪除為止", "如果不同意", "簡訊驗證碼", "刪除"),
    }[language]
    for word in words:
        assert word in text, word


def test_the_consent_version_shown_is_the_one_the_kiosk_records() -> None:
    versions = {load_catalog(language)["recovery.consent.version"] for language in LANGUAGES}
    assert versions == {RecoverySection().consent_version}
