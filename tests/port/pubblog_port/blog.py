"""FastAPI routes for the Flask blueprint 'blog' (written by `migrate-gateway scaffold`).

Each route is named after its Flask endpoint, so url_for, the gateway's flags
and `migrate-gateway status` find it. The FastAPI app needs flask_compat
installed: FlaskCompat(flask_app).install(app), then app.include_router(router).
Flask-Login's current_user and login_required need its bridge too:
FlaskLogin(flask_app).install(app) and a user_loader (flask_compat.login).
"""
# ruff: noqa: E501

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from flask_compat import FlaskCompat, flash, g, render_template, url_for
from flask_compat.login import CurrentUser, login_required
from flask_compat.wtf import csrf_protect, flask_form
from tests.port.pubblog.blog import CommentForm, PostForm, store


def load_logged_in_user(request: Request, *, current_user: CurrentUser):
    # Flask's before_request tests.port.pubblog.load_logged_in_user, as a dependency of every route here.
    g.user = current_user if current_user.is_authenticated else None


router = APIRouter(dependencies=[Depends(load_logged_in_user)])


@router.get("/blog/", name="blog.index")
def index(request: Request):
    posts = store.latest(FlaskCompat.of(request.app).flask_app.config["POSTS_PER_PAGE"])
    return render_template(request, "blog/index.html", title="Latest posts", posts=posts)


@router.get("/blog/{post_id:int}", name="blog.show")
async def show(request: Request, *, post_id: int):
    post = store.posts.get(post_id)
    if post is None:
        raise HTTPException(status_code=404)
    return render_template(
        request,
        "blog/show.html",
        title=post.title,
        post=post,
        form=await flask_form(request, CommentForm),
    )


@router.post(
    "/blog/{post_id:int}/comment",
    name="blog.comment",
    dependencies=[Depends(login_required), Depends(csrf_protect)],
)
async def comment(request: Request, *, post_id: int, current_user: CurrentUser):
    post = store.posts.get(post_id)
    if post is None:
        raise HTTPException(status_code=404)
    form = await flask_form(request, CommentForm)
    if form.validate_on_submit():
        post.comments.append((current_user.username, form.body.data))
        flash(request, "Comment added.", "success")
    else:
        flash(request, "The comment was empty.", "danger")
    return RedirectResponse(url_for(request, "blog.show", post_id=post.id), status_code=302)


@router.api_route(
    "/blog/new",
    methods=["GET", "POST"],
    name="blog.create",
    dependencies=[Depends(login_required), Depends(csrf_protect)],
)
async def create(request: Request, *, current_user: CurrentUser):
    form = await flask_form(request, PostForm)
    if form.validate_on_submit():
        post = store.add_post(current_user, form.title.data, form.body.data)
        flash(request, "Your post is live.", "success")
        return RedirectResponse(url_for(request, "blog.show", post_id=post.id), status_code=302)
    return render_template(request, "blog/create.html", title="New post", form=form)
