import pytest

from core.errors import Conflict, InvalidInput
from pos.services import create_register


@pytest.mark.parametrize("url", ["network://10.0.0.5:9100", "usb://04b8:0202", "serial:///dev/ttyUSB0?baudrate=19200",
                                 "file:///dev/usb/lp0", "dummy:"])
def test_printer_urls_per_design(world, url):
    reg = create_register(world.session, world.actor(), store_id=world.store.id, code=f"R{abs(hash(url)) % 999}",
                          name="柜台", printer_url=url)
    assert reg.printer_url == url


@pytest.mark.parametrize("kwargs", [{"printer_url": "http://printer"}, {"code": "pos 1"}, {"code": ""},
                                    {"printer_profile": "ascii"}])
def test_bad_register_input(world, kwargs):
    args = {"store_id": world.store.id, "code": "POS9", "name": "x", **kwargs}
    with pytest.raises(InvalidInput):
        create_register(world.session, world.actor(), **args)


def test_register_codes_are_unique_per_store(world):
    with pytest.raises(Conflict):
        create_register(world.session, world.actor(), store_id=world.store.id, code="POS1", name="dup")
    other = create_register(world.session, world.actor(), store_id=world.other_store.id, code="POS1", name="ok")
    assert other.store_id == world.other_store.id
