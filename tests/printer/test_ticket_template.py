"""The ticket's layout is data (assets/tickets/ticket.toml): what it says is what prints."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from devices.printer_api import TicketContent
from devices.ticket_layout import DEFAULT_TEMPLATE, TemplateError, build_ticket_job, load_template

TICKET = TicketContent(ticket_id="t1", cinema_name="星光影城", film_title="流浪地球",
                       film_original_title="The Wandering Earth", hall_name="3号厅", row="5", seat="12",
                       show_start=datetime(2026, 11, 22, 19, 30), price_fen=4550, entrance_token="TK1." + "x" * 40,
                       order_ref="ABC123", sequence="2/4")


def test_the_default_template_is_the_top_level_asset() -> None:
    assert Path(__file__).resolve().parents[2] / "assets" / "tickets" / "ticket.toml" == DEFAULT_TEMPLATE
    assert len(load_template().lines) >= 10


def test_a_changed_template_changes_the_printed_ticket(tmp_path: Path) -> None:
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("入场请出示此二维码", "请保留此票")
    changed = tmp_path / "ticket.toml"
    changed.write_text(text, encoding="utf-8")
    job = build_ticket_job(TICKET, template=load_template(changed))
    assert "请保留此票".encode("gb18030") in job
    assert "入场请出示此二维码".encode("gb18030") in build_ticket_job(TICKET)


@pytest.mark.parametrize("bad", ['[[line]]\ntext = "{no_such_field}"\n', "[[line]]\nrule = \"--\"\n",
                                 '[[line]]\ntext = "a"\nqr = "ticket_id"\n', "not toml ===", ""])
def test_a_broken_template_is_refused_with_the_file_named(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "ticket.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(TemplateError, match=str(path)):
        load_template(path)
