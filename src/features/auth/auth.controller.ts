import type { Request, Response } from 'express';
import type { AuthService, LoginRequest, RegisterRequest } from './auth.service';

export class AuthController {
  constructor(private readonly auth: AuthService) {}

  register = async (req: Request, res: Response): Promise<void> => {
    res.status(201).json(await this.auth.register(req.body as RegisterRequest, req.ip ?? ''));
  };

  login = async (req: Request, res: Response): Promise<void> => {
    res.status(200).json(await this.auth.login(req.body as LoginRequest, req.ip ?? ''));
  };
}
