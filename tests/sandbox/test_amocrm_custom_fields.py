"""Custom fields of every type, tags, users and the account's time zone in the amoCRM emulator.

Everything under test is observed through HTTP with requests; the Python control API only sets up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from amosheets.sandbox import Sandbox

from .conftest import TIMEOUT, Amo

T = 1_767_225_600  # 2026-01-01 00:00:00 UTC


@pytest.fixture
def amo(make_amo: Callable[..., Amo]) -> Amo:
    return make_amo()


def validation_errors(r: requests.Response) -> set[tuple[str, str, str]]:
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert (body["title"], body["type"], body["status"]) == ("Bad Request", "https://httpstatus.es/400", 400)
    assert body["detail"] == "Request validation failed"
    return {(ve["request_id"], e["code"], e["path"]) for ve in body["validation-errors"] for e in ve["errors"]}


def cf_values(lead: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {f["field_name"]: f["values"] for f in lead["custom_fields_values"] or []}


def cf(field: dict[str, Any], *values: dict[str, Any]) -> dict[str, Any]:
    return {"field_id": field["id"], "values": list(values)}


def enum(field: dict[str, Any], text: str) -> int:
    return next(e["id"] for e in field["enums"] if e["value"] == text)


# ---------------------------------------------------------------------- definitions ----
SAMPLE_TYPES = {
    "Источник": "text",
    "Город": "text",
    "Комментарий": "textarea",
    "Сайт": "url",
    "Адрес": "streetaddress",
    "Количество": "numeric",
    "Предоплата": "monetary",
    "Цена": "price",
    "Оплачено": "checkbox",
    "Продукт": "select",
    "Канал": "radiobutton",
    "Категория": "category",
    "Интересы": "multiselect",
    "Дата встречи": "date",
    "День рождения": "birthday",
    "Время звонка": "date_time",
    "Мессенджеры": "multitext",
    "utm_source": "tracking_data",
    "Юрлицо": "legal_entity",
}


def test_sample_account_has_a_lead_field_of_every_type_with_unique_names(amo: Amo) -> None:
    r = amo.get("/api/v4/leads/custom_fields", params={"limit": 250})
    items = r.json()["_embedded"]["custom_fields"]
    assert {f["name"]: f["type"] for f in items} == SAMPLE_TYPES
    assert len({f["name"] for f in items}) == len(items)
    fields = {f["name"]: f for f in items}
    assert fields["Источник"]["id"] == 1412001
    assert fields["utm_source"]["code"] == "UTM_SOURCE"
    assert [e["value"] for e in fields["Продукт"]["enums"]] == ["Базовый", "Стандарт", "Премиум"]
    assert [e["value"] for e in fields["Интересы"]["enums"]] == ["Доставка", "Монтаж", "Сервис", "Обучение"]
    for f in items:
        assert {
            "id",
            "name",
            "code",
            "sort",
            "type",
            "entity_type",
            "is_api_only",
            "enums",
            "required_statuses",
        } <= set(f)
        assert f["entity_type"] == "leads" and f["required_statuses"] == []
        if f["type"] in ("select", "radiobutton", "category", "multiselect", "multitext"):
            assert all(set(e) == {"id", "value", "sort"} for e in f["enums"])
        else:
            assert f["enums"] is None
    one = amo.get(f"/api/v4/leads/custom_fields/{fields['Продукт']['id']}")
    assert one.status_code == 200 and one.json()["name"] == "Продукт"
    assert amo.get("/api/v4/leads/custom_fields/1411001").status_code == 404  # a contact field
    contacts = {f["code"]: f["id"] for f in amo.fields("contacts").values()}
    assert contacts == {"POSITION": 1411005, "PHONE": 1411001, "EMAIL": 1411003}


def test_custom_fields_are_paged_like_other_lists(amo: Amo) -> None:
    for n in range(40):  # 19 sample fields + 40 = 59
        amo.emu.add_custom_field("leads", f"Поле {n}", "text")
    r = amo.get("/api/v4/leads/custom_fields")
    body = r.json()
    assert len(body["_embedded"]["custom_fields"]) == 50  # 50 a page by default
    assert body["_page"] == 1 and body["_total_items"] == 59 and body["_page_count"] == 2
    nxt = body["_links"]["next"]["href"]
    assert "page=2" in nxt and "limit=50" in nxt
    r2 = amo.s.get(nxt, timeout=TIMEOUT)
    assert r2.status_code == 200 and len(r2.json()["_embedded"]["custom_fields"]) == 9
    assert "next" not in r2.json()["_links"]
    r3 = amo.get("/api/v4/leads/custom_fields", params={"page": 3})
    assert r3.status_code == 204 and r3.content == b""
    errs = validation_errors(amo.get("/api/v4/leads/custom_fields", params={"limit": 251}))
    assert errs == {("0", "InvalidType", "limit")}
    assert len(amo.get("/api/v4/leads/custom_fields", params={"limit": 250}).json()["_embedded"]["custom_fields"]) == 59
    r = amo.get("/api/v4/leads/custom_fields", params={"limit": 19})
    assert r.json()["_links"]["next"]["href"].endswith("page=2")


def test_add_and_delete_a_custom_field_through_the_control_api(amo: Amo) -> None:
    pipeline = amo.emu.main_pipeline()
    status = amo.emu.find_status("Переговоры")["id"]
    r = amo.ctl(
        "POST",
        "/custom_fields",
        {
            "entity": "leads",
            "name": "Тариф",
            "type": "select",
            "code": "TARIFF",
            "enums": ["Мини", "Макси"],
            "required_statuses": [{"pipeline_id": pipeline["id"], "status_id": status}],
        },
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["name"] == "Тариф" and d["code"] == "TARIFF" and d["type"] == "select"
    assert [e["value"] for e in d["enums"]] == ["Мини", "Макси"]
    assert d["required_statuses"] == [{"status_id": status, "pipeline_id": pipeline["id"]}]
    assert amo.fields()["Тариф"]["id"] == d["id"]
    lid = amo.create(custom_fields_values=[{"field_code": "TARIFF", "values": [{"value": "Мини"}]}])
    assert cf_values(amo.lead(lid))["Тариф"] == [{"value": "Мини", "enum_id": enum(d, "Мини")}]
    # bad definitions are refused
    assert amo.ctl("POST", "/custom_fields", {"entity": "leads", "name": "X", "type": "select"}).status_code == 400
    assert amo.ctl("POST", "/custom_fields", {"entity": "deals", "name": "X", "type": "text"}).status_code == 400
    assert amo.ctl("POST", "/custom_fields", {"entity": "leads", "name": "X", "type": "rainbow"}).status_code == 400
    # deleting takes its values away
    assert amo.ctl("DELETE", f"/custom_fields/{d['id']}").status_code == 200
    assert "Тариф" not in amo.fields()
    assert amo.lead(lid)["custom_fields_values"] is None
    assert amo.ctl("DELETE", f"/custom_fields/{d['id']}").status_code == 404
    assert amo.ctl("DELETE", "/custom_fields/1411001").status_code == 400  # PHONE is predefined


def test_two_fields_may_share_a_name(amo: Amo) -> None:
    a = amo.emu.add_custom_field("leads", "Филиал", "text")
    b = amo.emu.add_custom_field("leads", "Филиал", "select", enums=["Север", "Юг"])
    listed = [f for f in amo.get("/api/v4/leads/custom_fields").json()["_embedded"]["custom_fields"]]
    assert [f["id"] for f in listed if f["name"] == "Филиал"] == [a["id"], b["id"]]


# ---------------------------------------------------------------------- values: accepted ----
def test_every_type_round_trips(amo: Amo) -> None:
    f = amo.fields()
    body = [
        cf(f["Город"], {"value": "Казань"}),
        cf(f["Комментарий"], {"value": "строка 1\nстрока 2"}),
        cf(f["Сайт"], {"value": "https://romashka.example"}),
        cf(f["Адрес"], {"value": "ул. Ленина, 1"}),
        cf(f["Количество"], {"value": "123.50"}),
        cf(f["Предоплата"], {"value": 1500}),
        cf(f["Цена"], {"value": 99.9}),
        cf(f["Оплачено"], {"value": True}),
        cf(f["Продукт"], {"enum_id": enum(f["Продукт"], "Премиум")}),
        cf(f["Канал"], {"value": "Рекомендация"}),
        cf(f["Категория"], {"value": "Опт", "enum_id": enum(f["Категория"], "Опт")}),
        cf(f["Интересы"], {"value": "Монтаж"}, {"enum_id": enum(f["Интересы"], "Сервис")}),
        cf(f["Дата встречи"], {"value": T}),
        cf(f["День рождения"], {"value": "1990-05-17T00:00:00+03:00"}),
        cf(f["Время звонка"], {"value": "2026-01-01T14:30:00Z"}),
        cf(f["Мессенджеры"], {"value": "@romashka", "enum_code": "TELEGRAM"}),
        {"field_code": "UTM_SOURCE", "values": [{"value": "yandex"}]},
        cf(f["Юрлицо"], {"value": {"name": "ООО «Ромашка»", "vat_id": "7700000000"}}),
    ]
    lid = amo.create(custom_fields_values=body)
    got = amo.lead(lid)
    values = cf_values(got)
    assert values == {
        "Город": [{"value": "Казань"}],
        "Комментарий": [{"value": "строка 1\nстрока 2"}],
        "Сайт": [{"value": "https://romashka.example"}],
        "Адрес": [{"value": "ул. Ленина, 1"}],
        "Количество": [{"value": "123.5"}],
        "Предоплата": [{"value": "1500"}],
        "Цена": [{"value": "99.9"}],
        "Оплачено": [{"value": True}],
        "Продукт": [{"value": "Премиум", "enum_id": enum(f["Продукт"], "Премиум")}],
        "Канал": [{"value": "Рекомендация", "enum_id": enum(f["Канал"], "Рекомендация")}],
        "Категория": [{"value": "Опт", "enum_id": enum(f["Категория"], "Опт")}],
        "Интересы": [
            {"value": "Монтаж", "enum_id": enum(f["Интересы"], "Монтаж")},
            {"value": "Сервис", "enum_id": enum(f["Интересы"], "Сервис")},
        ],
        "Дата встречи": [{"value": T}],
        "День рождения": [{"value": 642891600}],  # 1990-05-16 21:00 UTC
        "Время звонка": [{"value": T + 14 * 3600 + 30 * 60}],
        "Мессенджеры": [{"value": "@romashka", "enum_id": enum(f["Мессенджеры"], "TELEGRAM"), "enum_code": "TELEGRAM"}],
        "utm_source": [{"value": "yandex"}],
        "Юрлицо": [{"value": {"name": "ООО «Ромашка»", "vat_id": "7700000000"}}],
    }
    item = next(x for x in got["custom_fields_values"] if x["field_name"] == "utm_source")
    assert item == {
        "field_id": f["utm_source"]["id"],
        "field_name": "utm_source",
        "field_code": "UTM_SOURCE",
        "field_type": "tracking_data",
        "values": [{"value": "yandex"}],
    }
    # the same values through complex and PATCH (batch and single)
    r = amo.post("/api/v4/leads/complex", [{"name": "c", "custom_fields_values": body}])
    assert r.status_code == 200, r.text
    assert cf_values(amo.lead(r.json()[0]["id"])) == values
    other = amo.create()
    assert amo.patch("/api/v4/leads", [{"id": other, "custom_fields_values": body}]).status_code == 200
    assert cf_values(amo.lead(other)) == values
    third = amo.create()
    assert amo.patch(f"/api/v4/leads/{third}", {"custom_fields_values": body}).status_code == 200
    assert cf_values(amo.lead(third)) == values


def test_a_read_item_echoed_back_is_accepted(amo: Amo) -> None:
    f = amo.fields()
    lid = amo.create(
        custom_fields_values=[
            cf(f["Город"], {"value": "Казань"}),
            cf(f["Продукт"], {"value": "Базовый"}),
            cf(f["Интересы"], {"value": "Монтаж"}),
        ]
    )
    before = amo.lead(lid)
    echoed = amo.lead(lid)["custom_fields_values"]
    # a read-modify-write client sends back what it read
    echoed[0]["values"][0]["value"] = "Самара"
    r = amo.patch("/api/v4/leads", [{"id": lid, "custom_fields_values": echoed}])
    assert r.status_code == 200, r.text
    assert cf_values(amo.lead(lid))["Город"] == [{"value": "Самара"}]
    assert cf_values(amo.lead(lid))["Продукт"] == cf_values(before)["Продукт"]


def test_values_null_clears_a_field_and_a_field_left_out_is_left_alone(amo: Amo) -> None:
    f = amo.fields()
    lid = amo.create(custom_fields_values=[cf(f["Город"], {"value": "Казань"}), cf(f["Оплачено"], {"value": False})])
    r = amo.patch(
        "/api/v4/leads", [{"id": lid, "custom_fields_values": [{"field_id": f["Город"]["id"], "values": None}]}]
    )
    assert r.status_code == 200, r.text
    assert cf_values(amo.lead(lid)) == {"Оплачено": [{"value": False}]}
    r = amo.patch(f"/api/v4/leads/{lid}", {"custom_fields_values": [{"field_id": f["Оплачено"]["id"], "values": None}]})
    assert r.status_code == 200
    assert amo.lead(lid)["custom_fields_values"] is None


def test_contacts_take_custom_fields_too(amo: Amo) -> None:
    pos = amo.emu.add_custom_field("contacts", "Пол", "select", enums=["М", "Ж"])
    r = amo.post(
        "/api/v4/contacts",
        [
            {
                "name": "Анна",
                "custom_fields_values": [{"field_id": pos["id"], "field_name": "Пол", "values": [{"value": "Ж"}]}],
            }
        ],
    )
    assert r.status_code == 200, r.text
    cid = r.json()["_embedded"]["contacts"][0]["id"]
    got = amo.get(f"/api/v4/contacts/{cid}").json()["custom_fields_values"]
    assert got[0]["values"] == [{"value": "Ж", "enum_id": enum(pos, "Ж")}]
    errs = validation_errors(
        amo.patch(
            f"/api/v4/contacts/{cid}", {"custom_fields_values": [{"field_id": pos["id"], "values": [{"value": "ж"}]}]}
        )
    )
    assert errs == {("0", "NotSupportedChoice", "custom_fields_values.0.values.0.value")}


# ---------------------------------------------------------------------- values: refused ----
@pytest.mark.parametrize(
    ("name", "value", "code", "tail"),
    [
        ("Город", {"value": 5}, "InvalidType", "values.0.value"),
        ("Город", {"value": ""}, "NotBlank", "values.0.value"),
        ("Комментарий", {"value": ["a"]}, "InvalidType", "values.0.value"),
        ("Сайт", {"value": None}, "InvalidType", "values.0.value"),
        ("utm_source", {"value": 1}, "InvalidType", "values.0.value"),
        ("Город", {"value": "a", "enum_id": 1}, "FieldNotExpected", "values.0.enum_id"),
        ("Количество", {"value": "десять"}, "InvalidType", "values.0.value"),
        ("Количество", {"value": "1 500"}, "InvalidType", "values.0.value"),
        ("Предоплата", {"value": True}, "InvalidType", "values.0.value"),
        ("Цена", {"value": "12,5"}, "InvalidType", "values.0.value"),
        ("Оплачено", {"value": "true"}, "InvalidType", "values.0.value"),
        ("Оплачено", {"value": 1}, "InvalidType", "values.0.value"),
        ("Продукт", {"value": "премиум"}, "NotSupportedChoice", "values.0.value"),
        ("Продукт", {"value": "Премиум "}, "NotSupportedChoice", "values.0.value"),
        ("Продукт", {"enum_id": 1}, "NotSupportedChoice", "values.0.enum_id"),
        ("Продукт", {"enum_code": "PREMIUM"}, "FieldNotExpected", "values.0.enum_code"),
        ("Продукт", {"enum": "Премиум"}, "FieldNotExpected", "values.0.enum"),
        ("Продукт", {}, "FieldMissing", "values.0.enum_id"),
        ("Канал", {"value": "Почта"}, "NotSupportedChoice", "values.0.value"),
        ("Категория", {"value": "Опт", "enum_code": "x"}, "FieldNotExpected", "values.0.enum_code"),
        ("Интересы", {"value": "Ремонт"}, "NotSupportedChoice", "values.0.value"),
        ("Дата встречи", {"value": "2026-01-01"}, "InvalidType", "values.0.value"),
        ("День рождения", {"value": "17.05.1990"}, "InvalidType", "values.0.value"),
        ("Время звонка", {"value": 1.5}, "InvalidType", "values.0.value"),
        ("Время звонка", {"value": False}, "InvalidType", "values.0.value"),
        ("Мессенджеры", {"value": "@x", "enum": "TELEGRAM"}, "FieldNotExpected", "values.0.enum"),
        ("Мессенджеры", {"value": "@x", "enum_code": "WORK"}, "NotSupportedChoice", "values.0.enum_code"),
        ("Юрлицо", {"value": "ООО"}, "InvalidType", "values.0.value"),
        ("Юрлицо", {"value": {"vat_id": "1"}}, "FieldMissing", "values.0.value.name"),
    ],
)
def test_a_wrong_value_is_refused(amo: Amo, name: str, value: dict[str, Any], code: str, tail: str) -> None:
    f = amo.fields()[name]
    body = [{"name": "ok"}, {"name": "bad", "custom_fields_values": [cf(f, value)]}]
    errs = validation_errors(amo.post("/api/v4/leads", body))
    assert errs == {("1", code, f"custom_fields_values.0.{tail}")}
    assert amo.emu.leads() == []  # the whole request is refused


def test_single_value_fields_take_one_value(amo: Amo) -> None:
    f = amo.fields()
    for name, values in (
        ("Город", [{"value": "a"}, {"value": "b"}]),
        ("Продукт", [{"value": "Базовый"}, {"value": "Премиум"}]),
        ("Оплачено", [{"value": True}, {"value": False}]),
    ):
        errs = validation_errors(amo.post("/api/v4/leads", [{"custom_fields_values": [cf(f[name], *values)]}]))
        assert errs == {("0", "TooManyElements", "custom_fields_values.0.values")}


def test_item_keys_other_than_the_echoed_ones_are_refused(amo: Amo) -> None:
    f = amo.fields()["Город"]
    item = {"field_id": f["id"], "field_name": "Город", "field_type": "text", "values": [{"value": "a"}]}
    assert amo.post("/api/v4/leads", [{"custom_fields_values": [item]}]).status_code == 200
    errs = validation_errors(amo.post("/api/v4/leads", [{"custom_fields_values": [{**item, "is_computed": False}]}]))
    assert errs == {("0", "FieldNotExpected", "custom_fields_values.0.is_computed")}


def test_a_patch_with_one_bad_lead_changes_none(amo: Amo) -> None:
    f = amo.fields()
    a, b = amo.create(), amo.create()
    body = [
        {"id": a, "custom_fields_values": [cf(f["Город"], {"value": "Тула"})]},
        {"id": b, "custom_fields_values": [cf(f["Продукт"], {"value": "Золото"})]},
    ]
    errs = validation_errors(amo.patch("/api/v4/leads", body))
    assert errs == {("1", "NotSupportedChoice", "custom_fields_values.0.values.0.value")}
    assert amo.lead(a)["custom_fields_values"] is None


def test_values_of_types_the_sandbox_does_not_emulate_are_refused(amo: Amo) -> None:
    d = amo.emu.add_custom_field("leads", "Файл", "file")
    errs = validation_errors(amo.post("/api/v4/leads", [{"custom_fields_values": [cf(d, {"value": "x"})]}]))
    assert errs == {("0", "NotSupportedChoice", "custom_fields_values.0.values")}


# ---------------------------------------------------------------------- required statuses ----
def test_a_field_required_in_a_status_blocks_moving_a_lead_there_while_empty(amo: Amo) -> None:
    f = amo.fields()
    pid = amo.emu.main_pipeline()["id"]
    talks = amo.emu.find_status("Переговоры")["id"]
    first = amo.emu.find_status("Первичный контакт")["id"]
    r = amo.ctl(
        "PATCH",
        f"/custom_fields/{f['Дата встречи']['id']}",
        {"required_statuses": [{"pipeline_id": pid, "status_id": talks}]},
    )
    assert r.status_code == 200 and r.json()["required_statuses"] == [{"status_id": talks, "pipeline_id": pid}]
    assert amo.fields()["Дата встречи"]["required_statuses"] == [{"status_id": talks, "pipeline_id": pid}]
    # create straight into the status
    errs = validation_errors(amo.post("/api/v4/leads", [{"name": "x", "status_id": talks}]))
    assert errs == {("0", "FieldMissing", "custom_fields_values")}
    detail = amo.post("/api/v4/leads", [{"status_id": talks}]).json()["validation-errors"][0]["errors"][0]["detail"]
    assert str(f["Дата встречи"]["id"]) in detail and "Дата встречи" in detail
    ok = amo.create(status_id=talks, custom_fields_values=[cf(f["Дата встречи"], {"value": T})])
    # move in a batch: the whole PATCH is refused
    a, b = amo.create(status_id=first), amo.create(status_id=first)
    errs = validation_errors(amo.patch("/api/v4/leads", [{"id": a, "name": "renamed"}, {"id": b, "status_id": talks}]))
    assert errs == {("1", "FieldMissing", "custom_fields_values")}
    assert amo.lead(a)["name"] == "Сделка" and amo.lead(b)["status_id"] == first
    # filling it in the same request lets it through
    r = amo.patch(
        f"/api/v4/leads/{b}", {"status_id": talks, "custom_fields_values": [cf(f["Дата встречи"], {"value": T})]}
    )
    assert r.status_code == 200
    # clearing it while moving there is refused too; a lead already there may be edited otherwise
    errs = validation_errors(
        amo.patch(
            "/api/v4/leads",
            [
                {
                    "id": a,
                    "status_id": talks,
                    "custom_fields_values": [{"field_id": f["Дата встречи"]["id"], "values": None}],
                }
            ],
        )
    )
    assert errs == {("0", "FieldMissing", "custom_fields_values")}
    assert amo.patch(f"/api/v4/leads/{ok}", {"name": "still here"}).status_code == 200


# ---------------------------------------------------------------------- tags ----
def tag_names(lead: dict[str, Any]) -> list[str]:
    return [t["name"] for t in lead["_embedded"]["tags"]]


def test_tags_replace_the_set_null_clears_and_an_unknown_name_creates(amo: Amo) -> None:
    lid = amo.create(_embedded={"tags": [{"name": "VIP"}, {"name": "Опт"}]})
    lead = amo.lead(lid)
    assert tag_names(lead) == ["VIP", "Опт"]
    vip = lead["_embedded"]["tags"][0]
    assert set(vip) == {"id", "name", "color"}
    r = amo.patch("/api/v4/leads", [{"id": lid, "_embedded": {"tags": [{"id": vip["id"]}, {"name": "Новый"}]}}])
    assert r.status_code == 200
    assert tag_names(amo.lead(lid)) == ["VIP", "Новый"]  # "Опт" detached, "Новый" created
    assert amo.patch(f"/api/v4/leads/{lid}", {"_embedded": {"tags": None}}).status_code == 200
    assert tag_names(amo.lead(lid)) == []
    # a name matches an existing tag case-insensitively
    assert amo.patch(f"/api/v4/leads/{lid}", {"_embedded": {"tags": [{"name": "vip"}]}}).status_code == 200
    assert [t["id"] for t in amo.lead(lid)["_embedded"]["tags"]] == [vip["id"]]


def test_tag_with_both_id_and_name_or_unknown_id_is_refused(amo: Amo) -> None:
    lid = amo.create(_embedded={"tags": [{"name": "VIP"}]})
    vip = amo.lead(lid)["_embedded"]["tags"][0]
    errs = validation_errors(
        amo.patch("/api/v4/leads", [{"id": lid, "_embedded": {"tags": [{"id": vip["id"], "name": "VIP"}]}}])
    )
    assert errs == {("0", "FieldNotExpected", "_embedded.tags.0.name")}
    errs = validation_errors(amo.patch("/api/v4/leads", [{"id": lid, "_embedded": {"tags": [{"id": 1}]}}]))
    assert errs == {("0", "NotSupportedChoice", "_embedded.tags.0.id")}
    assert tag_names(amo.lead(lid)) == ["VIP"]


def test_tags_list(amo: Amo) -> None:
    assert amo.get("/api/v4/leads/tags").status_code == 204
    amo.create(_embedded={"tags": [{"name": "VIP"}, {"name": "Опт"}, {"name": "Розница"}]})
    body = amo.get("/api/v4/leads/tags").json()
    assert [t["name"] for t in body["_embedded"]["tags"]] == ["VIP", "Опт", "Розница"]
    assert [
        t["name"] for t in amo.get("/api/v4/leads/tags", params={"filter[name]": "опт"}).json()["_embedded"]["tags"]
    ] == ["Опт"]
    assert [t["name"] for t in amo.get("/api/v4/leads/tags", params={"query": "озн"}).json()["_embedded"]["tags"]] == [
        "Розница"
    ]
    assert amo.get("/api/v4/leads/tags", params={"query": "нет такого"}).status_code == 204
    page = amo.get("/api/v4/leads/tags", params={"limit": 2}).json()
    assert len(page["_embedded"]["tags"]) == 2 and "page=2" in page["_links"]["next"]["href"]
    assert amo.get("/api/v4/leads/tags", params={"limit": 2, "page": 3}).status_code == 204
    assert validation_errors(amo.get("/api/v4/leads/tags", params={"limit": 251})) == {("0", "InvalidType", "limit")}


# ---------------------------------------------------------------------- users ----
def test_users_list_for_an_admin_token_and_403_otherwise(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo()
    body = amo.get("/api/v4/users").json()
    names = [u["name"] for u in body["_embedded"]["users"]]
    assert names == ["Интеграция amosheets", "Менеджер", "Анна Соколова"]
    assert body["_total_items"] == 3
    page = amo.get("/api/v4/users", params={"limit": 2, "page": 2}).json()
    assert [u["name"] for u in page["_embedded"]["users"]] == ["Анна Соколова"]
    assert amo.get("/api/v4/users", params={"page": 3, "limit": 2}).status_code == 204
    assert validation_errors(amo.get("/api/v4/users", params={"limit": 251})) == {("0", "InvalidType", "limit")}

    assert amo.ctl("POST", "/config", {"token_is_admin": False}).json()["token_is_admin"] is False
    r = amo.get("/api/v4/users")
    assert r.status_code == 403 and "json" in r.headers["Content-Type"]
    assert r.json()["type"] == "https://httpstatus.es/403" and r.json()["title"] == "Forbidden"
    amo.emu.set_token_is_admin(True)
    assert amo.get("/api/v4/users").status_code == 200
    other = make_amo(token_is_admin=False)
    assert other.get("/api/v4/users").status_code == 403


def test_responsible_user_is_validated(amo: Amo) -> None:
    anna = next(u["id"] for u in amo.get("/api/v4/users").json()["_embedded"]["users"] if u["name"] == "Анна Соколова")
    lid = amo.create(responsible_user_id=anna)
    assert amo.lead(lid)["responsible_user_id"] == anna
    errs = validation_errors(amo.patch("/api/v4/leads", [{"id": lid, "responsible_user_id": 1}]))
    assert errs == {("0", "NotSupportedChoice", "responsible_user_id")}


# ---------------------------------------------------------------------- account ----
def test_datetime_settings_and_the_time_zone(make_amo: Callable[..., Amo]) -> None:
    amo = make_amo()
    plain = amo.get("/api/v4/account").json()
    assert "_embedded" not in plain
    s = amo.get("/api/v4/account", params={"with": "datetime_settings"}).json()["_embedded"]["datetime_settings"]
    assert s["timezone"] == "Europe/Moscow" and s["timezone_offset"] == "+03:00"
    assert {"date_pattern", "short_date_pattern", "short_time_pattern", "time_format"} <= set(s)
    assert amo.ctl("POST", "/config", {"timezone": "Asia/Yekaterinburg"}).status_code == 200
    s = amo.get("/api/v4/account", params={"with": "datetime_settings"}).json()["_embedded"]["datetime_settings"]
    assert (s["timezone"], s["timezone_offset"]) == ("Asia/Yekaterinburg", "+05:00")
    assert amo.ctl("POST", "/config", {"timezone": "Mars/Olympus"}).status_code == 400
    other = make_amo(timezone="Asia/Vladivostok")
    s = other.get("/api/v4/account", params={"with": "datetime_settings"}).json()["_embedded"]["datetime_settings"]
    assert s["timezone"] == "Asia/Vladivostok"
    assert validation_errors(amo.get("/api/v4/account", params={"with": "nonsense"})) == {
        ("0", "NotSupportedChoice", "with")
    }
    assert validation_errors(amo.get("/api/v4/account", params={"with": "task_types"})) == {
        ("0", "NotSupportedChoice", "with")
    }


# ---------------------------------------------------------------------- control edits ----
def test_control_edit_of_a_lead_takes_custom_fields_tags_and_responsible(amo: Amo) -> None:
    f = amo.fields()
    lead = amo.emu.create_lead("Ромашка")
    before = amo.lead(lead["id"])["updated_at"]
    amo.emu.clock.advance(5)
    r = amo.ctl(
        "PATCH",
        f"/leads/{lead['id']}",
        {
            "custom_fields_values": [cf(f["Продукт"], {"value": "Стандарт"}), cf(f["Оплачено"], {"value": True})],
            "tags": ["VIP", "Опт"],
            "responsible_user_id": 8123453,
        },
    )
    assert r.status_code == 200, r.text
    got = amo.lead(lead["id"])
    assert got["updated_at"] == before + 5 and got["updated_by"] == 8123452
    assert cf_values(got)["Продукт"][0]["value"] == "Стандарт" and cf_values(got)["Оплачено"] == [{"value": True}]
    assert tag_names(got) == ["VIP", "Опт"] and got["responsible_user_id"] == 8123453
    amo.emu.edit_lead(lead["id"], tags=["Опт"], custom_fields_values=[{"field_id": f["Продукт"]["id"], "values": None}])
    got = amo.lead(lead["id"])
    assert tag_names(got) == ["Опт"] and set(cf_values(got)) == {"Оплачено"}
    # the same validation as the API; nothing changes when refused
    bad = amo.ctl(
        "PATCH", f"/leads/{lead['id']}", {"custom_fields_values": [cf(f["Продукт"], {"value": "Золото"})], "tags": []}
    )
    assert bad.status_code == 400 and "NotSupportedChoice" in bad.json()["detail"]
    assert amo.ctl("PATCH", f"/leads/{lead['id']}", {"responsible_user_id": 42}).status_code == 400
    assert tag_names(amo.lead(lead["id"])) == ["Опт"]


def test_control_create_lead_and_edit_contact_take_custom_fields(amo: Amo) -> None:
    f = amo.fields()
    r = amo.ctl(
        "POST",
        "/leads",
        {
            "name": "Орлов",
            "custom_fields_values": [cf(f["Город"], {"value": "Омск"})],
            "tags": ["VIP"],
            "responsible_user_id": 8123453,
        },
    )
    assert r.status_code == 200, r.text
    lead = amo.lead(r.json()["id"])
    assert cf_values(lead) == {"Город": [{"value": "Омск"}]} and tag_names(lead) == ["VIP"]
    cid = r.json()["_embedded"]["contacts"][0]["id"]
    r = amo.ctl(
        "PATCH",
        f"/contacts/{cid}",
        {"custom_fields_values": [{"field_code": "POSITION", "values": [{"value": "Директор"}]}]},
    )
    assert r.status_code == 200, r.text
    got = amo.get(f"/api/v4/contacts/{cid}").json()
    assert {x["field_code"]: x["values"] for x in got["custom_fields_values"]}["POSITION"] == [{"value": "Директор"}]
    assert (
        amo.ctl(
            "PATCH",
            f"/contacts/{cid}",
            {"custom_fields_values": [{"field_code": "POSITION", "values": [{"value": 1}]}]},
        ).status_code
        == 400
    )


# ---------------------------------------------------------------------- the sample account ----
def test_sample_deals_carry_custom_fields_tags_and_another_responsible() -> None:
    with Sandbox(rate_limit=None, amocrm_timezone="Asia/Yekaterinburg") as sb:
        sb.seed_sample()
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {sb.token}"
        leads = s.get(f"{sb.amocrm_url}/api/v4/leads", timeout=TIMEOUT).json()["_embedded"]["leads"]
        by_name = {lead["name"]: lead for lead in leads}
        smirnov = by_name["Алексей Смирнов"]
        assert cf_values(smirnov)["Продукт"][0]["value"] == "Стандарт"
        assert [v["value"] for v in cf_values(smirnov)["Интересы"]] == ["Доставка", "Монтаж"]
        assert tag_names(smirnov) == ["VIP"] and smirnov["responsible_user_id"] == 8123453
        assert tag_names(by_name["ИП Кузнецова"]) == ["VIP", "Опт"]
        assert by_name["Екатерина Волкова"]["custom_fields_values"] is None
        account = s.get(f"{sb.amocrm_url}/api/v4/account?with=datetime_settings", timeout=TIMEOUT).json()
        assert account["_embedded"]["datetime_settings"]["timezone"] == "Asia/Yekaterinburg"
