from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from .models import store

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "warning"
csrf = CSRFProtect()


@login_manager.user_loader
def load_user(user_id):
    return store.users.get(int(user_id))
