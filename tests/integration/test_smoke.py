from tests.conftest import login


def test_login_and_dashboard(client, world):
    assert login(client, "quality_manager").status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert "测试药房" in page.get_data(as_text=True)
