"""FastAPI routes for the Flask blueprint 'blog' (written by `migrate-gateway scaffold`).

Each route is named after its Flask endpoint, so url_for, the gateway's flags
and `migrate-gateway status` find it. The FastAPI app needs flask_compat
installed: FlaskCompat(flask_app).install(app), then app.include_router(router).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from flask_compat import FlaskCompat, flash, render_template, url_for
from tests.port.pubblog.blog import CommentForm, PostForm, store
from tests.port.pubblog_port.kit import csrf_protect, load_logged_in_user, login_required

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
    form = await request.app.state.csrf.form(request, CommentForm)
    return render_template(request, "blog/show.html", title=post.title, post=post, form=form)


@router.api_route(
    "/blog/new", methods=["GET", "POST"], name="blog.create", dependencies=[Depends(csrf_protect)]
)
async def create(request: Request, user: Annotated[Any, Depends(login_required)]):
    form = await request.app.state.csrf.form(request, PostForm)
    if form.validate_on_submit():
        post = store.add_post(user, form.title.data, form.body.data)
        flash(request, "Your post is live.", "success")
        return RedirectResponse(url_for(request, "blog.show", post_id=post.id), status_code=302)
    return render_template(request, "blog/create.html", title="New post", form=form)
