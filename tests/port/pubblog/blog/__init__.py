from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..forms import CommentForm, PostForm
from ..models import store

bp = Blueprint(
    "blog",
    __name__,
    url_prefix="/blog",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@bp.route("/")
def index():
    posts = store.latest(current_app.config["POSTS_PER_PAGE"])
    return render_template("blog/index.html", title="Latest posts", posts=posts)


@bp.route("/<int:post_id>")
def show(post_id):
    post = store.posts.get(post_id)
    if post is None:
        abort(404)
    return render_template("blog/show.html", title=post.title, post=post, form=CommentForm())


@bp.route("/<int:post_id>/comment", methods=["POST"])
@login_required
def comment(post_id):
    post = store.posts.get(post_id)
    if post is None:
        abort(404)
    form = CommentForm()
    if form.validate_on_submit():
        post.comments.append((current_user.username, form.body.data))
        flash("Comment added.", "success")
    else:
        flash("The comment was empty.", "danger")
    return redirect(url_for("blog.show", post_id=post.id))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    form = PostForm()
    if form.validate_on_submit():
        post = store.add_post(current_user, form.title.data, form.body.data)
        flash("Your post is live.", "success")
        return redirect(url_for("blog.show", post_id=post.id))
    return render_template("blog/create.html", title="New post", form=form)
