"""Users and posts, in memory (a real app would use SQLAlchemy; the views do not care)."""

import threading
from dataclasses import dataclass, field
from datetime import datetime

from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash


@dataclass
class User(UserMixin):
    id: int
    username: str
    password_hash: str

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)


@dataclass
class Post:
    id: int
    author: User
    title: str
    body: str
    created: datetime
    comments: list = field(default_factory=list)


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.users = {}
        self.posts = {}

    def add_user(self, username, password):
        with self.lock:
            user = User(len(self.users) + 1, username, generate_password_hash(password))
            self.users[user.id] = user
            return user

    def user_named(self, username):
        return next((u for u in self.users.values() if u.username == username), None)

    def add_post(self, author, title, body, created=None):
        with self.lock:
            post = Post(len(self.posts) + 1, author, title, body, created or datetime(2026, 1, 1))
            self.posts[post.id] = post
            return post

    def latest(self, limit):
        return sorted(self.posts.values(), key=lambda p: (p.created, p.id), reverse=True)[:limit]


store = Store()
