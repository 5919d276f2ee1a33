from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember_me = BooleanField("Remember me")
    submit = SubmitField("Log in")


class PostForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=80)])
    body = TextAreaField("Body", validators=[DataRequired()])
    submit = SubmitField("Publish")

    def validate_title(self, field):
        if field.data.strip().lower() == "untitled":
            raise ValidationError("Give the post a real title.")


class CommentForm(FlaskForm):
    body = TextAreaField("Comment", validators=[DataRequired(), Length(max=500)])
    submit = SubmitField("Comment")


class LogoutForm(FlaskForm):
    submit = SubmitField("Log out")
